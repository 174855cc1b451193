package palisadegrpc

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/palisade-go/palisade/policy"
)

// errStreamGiven is the error of an attempt that a policy started after the
// call's stream had been given to the caller: a stream the caller has used
// cannot be started again.
var errStreamGiven = errors.New("palisadegrpc: the stream was already given to the caller; it cannot be retried")

// errPolicyExited is the error of a streaming call whose policy called
// runtime.Goexit (as t.FailNow does) before giving the caller a stream.
var errPolicyExited = errors.New("palisadegrpc: the stream's policy exited its goroutine (runtime.Goexit)")

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
			switch {
			case v == nil: // runtime.Goexit in a policy: no value to pass on
				s.err = errPolicyExited
			case s.given.Load():
				panic(v)
			default:
				s.panicked, s.panicValue = true, v
			}
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
	cs, err := s.streamer(sc, s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		sc.release()
		perr, o := s.c.judge(s.ctx, ctx, s.cc, s.method, err, nil, s.idempotent)
		s.setOutcome(o)
		return perr
	}
	w := &clientStream{ClientStream: cs, sc: sc}
	if !s.given.CompareAndSwap(false, true) {
		// Another attempt of a policy running them at once gave its stream.
		sc.release()
		return permanent(errStreamGiven)
	}
	s.ready <- w

	err = w.firstResponse()
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

// clientStream is the stream given to the caller: it releases the
// stream's context when the stream ends, and keeps the caller's RecvMsg
// from running at the same time as the one firstResponse may make.
type clientStream struct {
	grpc.ClientStream
	sc      *streamContext
	judged  atomic.Bool // firstResponse is done with the stream
	recvMus sync.Mutex  // held by RecvMsg until judged
}

// RecvMsg receives a message, as grpc.ClientStream's does.
func (w *clientStream) RecvMsg(m any) error {
	if !w.judged.Load() {
		w.recvMus.Lock()
		defer w.recvMus.Unlock()
	}
	err := w.ClientStream.RecvMsg(m)
	if err != nil {
		w.sc.release() // the stream is over: release its context
	}
	return err
}

// firstResponse waits for the first response of the stream: its headers,
// or its end. It returns nil for headers or an OK end, and the stream's
// error otherwise.
func (w *clientStream) firstResponse() error {
	defer w.judged.Store(true)
	if md, _ := w.ClientStream.Header(); md != nil {
		return nil
	}
	// No headers: the stream is over (its server ended it, or its context
	// ended), and no message can come. grpc-go keeps its status for
	// RecvMsg, which returns it to every call from now on: to ours, which
	// decodes nothing, and to the caller's.
	w.recvMus.Lock()
	defer w.recvMus.Unlock()
	if err := w.ClientStream.RecvMsg(nil); err != io.EOF {
		return err
	}
	return nil
}

// streamContext is the context of a stream: the caller's deadline and
// cancellation, the values of the policy's attempt context (its span, so
// that a stats handler's span nests under the pipeline's), and, until
// detach, the end of the attempt context too, so that a timeout policy
// bounds the wait for the first response but not the stream's life.
//
// It is a context of its own rather than one of package context, so that
// its Err, which grpc-go turns into the stream's status, is the error of
// the context that ended it: DEADLINE_EXCEEDED when a timeout policy's
// deadline passed, not CANCELLED.
type streamContext struct {
	values      context.Context // context.WithoutCancel(the attempt's)
	caller      context.Context
	done        chan struct{}
	stopCaller  func() bool
	stopAttempt func() bool // nil when the attempt's context ends only with the caller's

	mu  sync.Mutex
	err error
}

func newStreamContext(callerCtx, attemptCtx context.Context) *streamContext {
	sc := &streamContext{
		values: context.WithoutCancel(attemptCtx),
		caller: callerCtx,
		done:   make(chan struct{}),
	}
	sc.stopCaller = context.AfterFunc(callerCtx, func() { sc.end(callerCtx.Err()) })
	if attemptCtx.Done() != callerCtx.Done() {
		sc.stopAttempt = context.AfterFunc(attemptCtx, func() { sc.end(attemptCtx.Err()) })
	}
	return sc
}

// end ends the context with err, unless it has ended already.
func (sc *streamContext) end(err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.err == nil {
		sc.err = err
		close(sc.done)
	}
}

// detach stops the end of the attempt's context from ending the stream.
func (sc *streamContext) detach() {
	if sc.stopAttempt != nil {
		sc.stopAttempt()
	}
}

// release ends the context of a stream that is over, and its
// registrations on the caller's and the attempt's contexts.
func (sc *streamContext) release() {
	sc.detach()
	sc.stopCaller()
	sc.end(context.Canceled)
}

func (sc *streamContext) Deadline() (time.Time, bool) { return sc.caller.Deadline() }
func (sc *streamContext) Done() <-chan struct{}       { return sc.done }

func (sc *streamContext) Err() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.err
}

// Value returns the attempt context's value for key, the caller's included
// (the attempt's context derives from it).
func (sc *streamContext) Value(key any) any { return sc.values.Value(key) }
