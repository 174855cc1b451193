// Package bulkhead limits how many calls run at once.
//
// A [Bulkhead] has MaxConcurrent slots. A call takes a slot, runs, and frees
// it when its function returns or panics. A call that finds every slot taken
// waits in a first-in, first-out queue of at most MaxQueue callers; one that
// finds the queue full too is refused at once with an error matching
// [ErrFull] (and [policy.ErrRejected]). A waiter gets the slot freed by the
// next call to finish, in the order the waiters arrived; calls arriving while
// anyone waits join the queue rather than overtake it. A waiter gives up when
// MaxWait passes (it gets an error matching ErrFull) or when its context ends
// (it gets a *[Error] matching ctx.Err() and policy.ErrRejected, but not
// ErrFull); either way it leaves the queue and holds no slot. A slot is
// never lost: a waiter handed a slot at the very moment its context ends
// passes it on to the next waiter (or frees it); one handed a slot as its
// MaxWait passes keeps it and runs.
//
// Which errors count as rejections: a call refused because the queue was
// full, and one that waited MaxWait without getting a slot, both return
// ErrFull and are reported as rejected (palisade.rejected_calls and the
// palisade.rejected span event). A waiter whose context ended is the
// caller's own doing, and is not counted; but its function never ran, so its
// error matches policy.ErrRejected: a breaker outside the bulkhead must not
// count a queue wait as the dependency's failure.
//
// # Cost
//
// The count of calls in flight and a "someone is waiting" flag share one
// atomic word. While nobody waits, taking a slot is one compare-and-swap and
// freeing it one atomic add, with no lock, no allocation and no clock read.
// Only a call that must wait (or be refused) takes the mutex guarding the
// queue, and only a waiter allocates (its queue entry and channel, and a
// timer when MaxWait is set). While the queue is non-empty the flag keeps
// newcomers off the fast path: a finishing call hands its slot, under the
// mutex, straight to the first waiter. The usage, limit and queue-length
// metrics are observed at collection time, so no call records them.
//
// Waiters are not pooled: a channel made inside a testing/synctest bubble
// may not be used outside it, and pooling would tie a Bulkhead shared
// between bubbles (a package-level one, in its users' tests) to the first.
//
// # Contexts
//
// Execute does not look at ctx when a slot is free: the function, which
// must honour its context, decides what to do with an ended one. A call that
// would have to wait and whose context has already ended is not queued; it
// gets the same error as a waiter whose context ended (or ErrFull, when the
// queue is full anyway).
package bulkhead
