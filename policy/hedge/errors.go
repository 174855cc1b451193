package hedge

// ErrLost is the cause (context.Cause) of the context of an attempt that
// lost: another attempt of its call succeeded first, or panicked, so the
// policy no longer waits for it. An attempt that sees it should return at
// once; whatever it returns is discarded.
var ErrLost error = lost{}

type lost struct{}

func (lost) Error() string     { return "palisade/hedge: another attempt won the call" }
func (lost) ErrorType() string { return "hedge_lost" }
