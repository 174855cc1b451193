// Package fuzzbytes reads a fuzz input as a stream of small choices, for the
// fuzz and model tests that build a scenario from it: a composition of
// policies, a script of calls, a breaker's configuration. Once the input is
// used up the stream gives zeros, so that every input, the empty one
// included, makes a whole scenario, and the fuzzer's mutations change one
// choice at a time.
package fuzzbytes

// Reader reads an input one byte at a time, then zeros.
type Reader struct {
	data []byte
	i    int
}

// New returns a Reader of data.
func New(data []byte) *Reader { return &Reader{data: data} }

// Next returns the next byte, 0 to 255, or 0 once the input is used up.
func (r *Reader) Next() int {
	if r.i >= len(r.data) {
		return 0
	}
	b := r.data[r.i]
	r.i++
	return int(b)
}

// Done reports whether the input is used up.
func (r *Reader) Done() bool { return r.i >= len(r.data) }
