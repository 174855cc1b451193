package palisadegrpc

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/palisade-go/palisade/policy"
)

// errStreamGiven is the error of an attempt that a policy started after the
// call's stream had been given to the caller: a stream the caller has used
// cannot be started again.
var errStreamGiven = errors.New("palisadegrpc: the stream was already given to the caller; it cannot be retried")

// StreamClientInterceptor returns an interceptor that runs each streaming
// call through the policy chosen by [WithPolicy] or [WithPolicyFunc], from
// the stream's creation to its first response (its headers, or its end if
// it ends without any); see the package documentation. Use it with
// grpc.WithChainStreamInterceptor (or grpc.WithStreamInterceptor).
func StreamClientInterceptor(opts ...Option) grpc.StreamClientInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		p := c.policy(method)
		if p == nil {
			return streamer(ctx, desc, cc, method, opts...)
		}
		s := &streamCall{
			c: c, ctx: ctx, desc: desc, cc: cc, method: method,
			streamer: streamer, opts: opts,
			idempotent: c.isIdempotent(method),
			ready:      make(chan *clientStream, 1),
			done:       make(chan struct{}),
		}
		go s.run(p)
		select {
		case cs := <-s.ready:
			return cs, nil
		case <-s.done:
		}
		select {
		case cs := <-s.ready: // given just before the policy returned
			return cs, nil
		default:
		}
		if s.panicked {
			panic(s.panicValue)
		}
		s.mu.Lock()
		o := s.outcome
		s.mu.Unlock()
		return nil, o.result(s.err)
	}
}

// streamCall is the state of one streaming call. Its policy runs on a
// goroutine of its own, for its Execute lasts beyond the interceptor's
// return: until the stream's first response.
type streamCall struct {
	c          *config
	ctx        context.Context // the caller's
	desc       *grpc.StreamDesc
	cc         *grpc.ClientConn
	method     string
	streamer   grpc.Streamer
	opts       []grpc.CallOption
	idempotent bool

	ready chan *clientStream // receives the stream given to the caller
	given atomic.Bool        // a stream was sent on ready
	done  chan struct{}      // closed when the policy returned (or panicked)

	// Set before done is closed.
	err        error
	panicked   bool
	panicValue any

	mu      sync.Mutex
	outcome outcome // the latest attempt's
}

// run runs the call's policy. A panic before the stream is given to the
// caller goes on in the caller's goroutine (the policies have released
// what they held on the way up); one after it, when no caller waits any
// more, goes on here, and ends the program as any unrecovered panic does.
func (s *streamCall) run(p policy.Policy) {
	finished := false
	defer func() {
		if !finished {
			v := recover()
			if s.given.Load() {
				panic(v)
			}
			s.panicked, s.panicValue = true, v
		}
		close(s.done)
	}()
	s.err = p.Execute(s.ctx, s.attempt)
	finished = true
}

// attempt is the policy.Func of a streaming call: it creates the stream,
// gives it to the caller, and waits for its first response.
func (s *streamCall) attempt(ctx context.Context) error {
	if s.given.Load() {
		return permanent(errStreamGiven)
	}
	sc := newStreamContext(s.ctx, ctx)
	cs, err := s.streamer(sc.ctx, s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		sc.detach()
		sc.cancel(nil)
		perr, o := s.c.judge(s.ctx, ctx, s.cc, s.method, err, nil, s.idempotent)
		s.setOutcome(o)
		return perr
	}
	w := &clientStream{ClientStream: cs, cancel: sc.cancel, first: make(chan error, 1)}
	if !s.given.CompareAndSwap(false, true) {
		// Another attempt of a policy running them at once gave its stream.
		sc.detach()
		sc.cancel(errStreamGiven)
		return permanent(errStreamGiven)
	}
	s.ready <- w

	err = w.firstResponse(ctx, s.ctx)
	sc.detach() // from now on only the caller's context ends the stream
	if err == nil {
		s.setOutcome(outcome{})
		return nil
	}
	// The caller holds the stream and may have sent messages: never
	// retried, whatever the class.
	perr, o := s.c.judge(s.ctx, ctx, s.cc, s.method, err, nil, false)
	s.setOutcome(o)
	return perr
}

func (s *streamCall) setOutcome(o outcome) {
	s.mu.Lock()
	s.outcome = o
	s.mu.Unlock()
}

// clientStream is the stream given to the caller: it reports the outcome
// of the first RecvMsg, and releases the stream's context when the stream
// ends.
type clientStream struct {
	grpc.ClientStream
	cancel    context.CancelCauseFunc
	first     chan error // the first RecvMsg's error; buffered
	firstDone atomic.Bool
}

// RecvMsg receives a message, as grpc.ClientStream's does.
func (w *clientStream) RecvMsg(m any) error {
	err := w.ClientStream.RecvMsg(m)
	if !w.firstDone.Load() && w.firstDone.CompareAndSwap(false, true) {
		w.first <- err
	}
	if err != nil {
		w.cancel(nil) // the stream is over: release its context
	}
	return err
}

// firstResponse waits for the first response of the stream: its headers,
// or, when it ends without any, its status as the caller's first RecvMsg
// gets it. It returns nil for headers, a message, or an OK end, and the
// stream's error otherwise. attemptCtx is the policy's context for the
// attempt, callerCtx the caller's.
func (w *clientStream) firstResponse(attemptCtx, callerCtx context.Context) error {
	if md, _ := w.ClientStream.Header(); md != nil {
		return nil
	}
	// No headers: the stream ended, or its context did. grpc-go keeps the
	// status for RecvMsg, which the caller must call to learn it.
	select {
	case err := <-w.first:
		if err == nil || err == io.EOF {
			return nil
		}
		return err
	case <-attemptCtx.Done():
		return status.FromContextError(attemptCtx.Err()).Err()
	case <-callerCtx.Done():
		return status.FromContextError(callerCtx.Err()).Err()
	}
}

// streamContext is the context of a stream: the caller's deadline and
// cancellation, the values of the policy's attempt context (its span, so
// that a stats handler's span nests under the pipeline's), and, until
// detach, the cancellation of the attempt context too, so that a timeout
// policy bounds the wait for the first response but not the stream's life.
type streamContext struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   func() bool
}

func newStreamContext(callerCtx, attemptCtx context.Context) *streamContext {
	sc := &streamContext{}
	sc.ctx, sc.cancel = context.WithCancelCause(detached{Context: callerCtx, values: context.WithoutCancel(attemptCtx)})
	if attemptCtx.Done() != callerCtx.Done() {
		sc.stop = context.AfterFunc(attemptCtx, func() { sc.cancel(context.Cause(attemptCtx)) })
	}
	return sc
}

// detach stops the end of the attempt's context from ending the stream.
func (sc *streamContext) detach() {
	if sc.stop != nil {
		sc.stop()
	}
}

// detached is a context with the deadline and cancellation of the
// caller's context and the values of the attempt's, which derives from it.
type detached struct {
	context.Context                 // the caller's: Deadline, Done, Err
	values          context.Context // context.WithoutCancel(the attempt's)
}

// Value returns the attempt's value for key. Without one it asks the
// caller's context, the only one that answers the context package's own
// lookup of the cancellation it derives from.
func (d detached) Value(key any) any {
	if v := d.values.Value(key); v != nil {
		return v
	}
	return d.Context.Value(key)
}

// AfterFunc lets context.WithCancelCause register on the caller's context
// without a goroutine.
func (d detached) AfterFunc(f func()) func() bool { return context.AfterFunc(d.Context, f) }
