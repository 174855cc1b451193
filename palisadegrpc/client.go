package palisadegrpc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
)

// ErrOverlappingAttempts is the error of an attempt that a policy started
// while another attempt of the same unary call was still running, when the
// policy did not declare policy.ConcurrentAttempts or the reply is not a
// proto.Message: both attempts would write the same reply message. It is
// wrapped in backoff.Permanent, and the attempt does not reach the server.
// A declared concurrent policy (policy/hedge) hedges idempotent methods:
// each attempt gets a reply message of its own, and the winner's is copied
// into the caller's.
var ErrOverlappingAttempts = errors.New("palisadegrpc: a policy started an attempt of a unary call while another was running; unary calls cannot be hedged")

// UnaryClientInterceptor returns an interceptor that runs each unary call
// through the policy chosen by [WithPolicy] or [WithPolicyFunc]; see the
// package documentation for what the policy is told and what the caller
// gets. Use it with grpc.WithChainUnaryInterceptor (or
// grpc.WithUnaryInterceptor).
func UnaryClientInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		p := c.policy(method)
		if p == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		u := &unaryCall{
			c: c, ctx: ctx, method: method, req: req, reply: reply,
			cc: cc, invoker: invoker,
			idempotent: c.isIdempotent(method),
		}
		u.opts = append(append(u.optsBuf[:0], opts...), grpc.Trailer(&u.trailer))
		if policy.ModeOf(p) == policy.ConcurrentAttempts {
			// A policy that may overlap attempts (a hedge). Only then: the
			// mark costs an allocation, which sequential policies need not pay.
			if !u.idempotent {
				ctx = hedge.Disable(ctx) // sent once at a time
			} else if r, ok := reply.(proto.Message); ok {
				u.replyProto, u.callerOpts = r, opts
			}
		}
		return u.result(p.Execute(ctx, u.attempt))
	}
}

// unaryCall is the state of one unary call across its attempts.
type unaryCall struct {
	c          *config
	ctx        context.Context // the caller's
	method     string
	req, reply any
	cc         *grpc.ClientConn
	invoker    grpc.UnaryInvoker
	opts       []grpc.CallOption  // the caller's, and ours for the trailer
	optsBuf    [4]grpc.CallOption // opts, unless the caller passes more than 3
	idempotent bool

	running atomic.Bool
	trailer metadata.MD // the running attempt's trailer

	// Set when attempts may overlap (a hedge of an idempotent method):
	// each attempt then has a reply and a trailer of its own.
	replyProto proto.Message
	callerOpts []grpc.CallOption

	mu      sync.Mutex
	outcome outcome       // the latest attempt's, or the winner's
	won     bool          // an attempt succeeded (for the policy), when attempts overlap
	winner  proto.Message // its reply, if the server answered OK
	sealed  bool          // the call has returned: later attempts change nothing
}

// attempt is the policy.Func of a unary call: one try at it.
func (u *unaryCall) attempt(ctx context.Context) error {
	if u.replyProto != nil {
		return u.overlappingAttempt(ctx)
	}
	if !u.running.CompareAndSwap(false, true) {
		return permanent(ErrOverlappingAttempts)
	}
	defer u.running.Store(false)
	u.trailer = nil
	err := u.invoker(ctx, u.method, u.req, u.reply, u.cc, u.opts...)
	perr, o := u.c.judge(u.ctx, ctx, u.cc, u.method, err, u.trailer, u.idempotent)
	u.mu.Lock()
	u.outcome = o
	u.mu.Unlock()
	return perr
}

// overlappingAttempt is an attempt of a call whose attempts may overlap:
// it fills a reply of its own, kept if it is the first to succeed.
func (u *unaryCall) overlappingAttempt(ctx context.Context) error {
	reply := u.replyProto.ProtoReflect().New().Interface()
	var trailer metadata.MD
	opts := append(append(make([]grpc.CallOption, 0, len(u.callerOpts)+1), u.callerOpts...), grpc.Trailer(&trailer))
	err := u.invoker(ctx, u.method, u.req, reply, u.cc, opts...)
	perr, o := u.c.judge(u.ctx, ctx, u.cc, u.method, err, trailer, u.idempotent)
	u.mu.Lock()
	if !u.sealed && !u.won {
		u.outcome = o
		if perr == nil { // the policy's success: the call's answer
			u.won = true
			if err == nil {
				u.winner = reply
			}
		}
	}
	u.mu.Unlock()
	return perr
}

// result turns the policy's error into the call's.
func (u *unaryCall) result(err error) error {
	u.mu.Lock()
	o, winner := u.outcome, u.winner
	u.sealed = true
	u.mu.Unlock()
	if winner != nil && err == nil {
		proto.Reset(u.replyProto)
		proto.Merge(u.replyProto, winner)
	}
	return o.result(err)
}

// outcome is what became of an attempt: the error grpc-go returned, and
// the error the policy was given for it (nil for a Success).
type outcome struct {
	err error
	se  *StatusError
}

// result returns the error the caller gets when the policy returned err
// and o was the latest attempt's outcome.
func (o outcome) result(err error) error {
	if err == nil {
		return o.err // nil, or a Success's status error: the caller gets it as the server sent it
	}
	var se *StatusError
	switch e := err.(type) {
	case *StatusError:
		se = e
	case *backoff.PermanentError:
		se, _ = e.Err.(*StatusError)
	}
	if se != nil {
		return se.err // the policy gave up on a status: the caller gets it unchanged
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		// A policy wrapped a status (retries exhausted, a timeout): the
		// caller gets the policy's error with the server's status.
		return &Error{Err: err, Code: se.Code(), status: se.st}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return newError(err) // the policy's own error: give it a status code
}

// judge classifies an attempt's error err and returns what the policy is
// told, and the attempt's outcome. callerCtx is the caller's context,
// attemptCtx the one the policy gave the attempt; idempotent says whether
// a Retryable failure may be retried.
func (c *config) judge(callerCtx, attemptCtx context.Context, cc *grpc.ClientConn, method string, err error, trailer metadata.MD, idempotent bool) (error, outcome) {
	if err == nil {
		return nil, outcome{}
	}
	st := status.Convert(err)
	se := &StatusError{err: err, st: st}
	switch {
	case callerCtx.Err() != nil:
		// The caller gave up (or its deadline passed): nothing to say about
		// the server, and nothing to retry.
		se.Class, se.ctxErr = Ignored, callerCtx.Err()
	case st.Code() == codes.DeadlineExceeded && deadlinePassed(callerCtx):
		// The caller's deadline, propagated to the server, which noticed
		// it before the caller's context's own timer did.
		se.Class, se.ctxErr = Ignored, context.DeadlineExceeded
	case attemptCtx.Err() != nil && (st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled):
		if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
			// A policy's deadline (a timeout's), not the caller's: the
			// server was too slow.
			se.Class = c.classify(method, status.New(codes.DeadlineExceeded, st.Message()))
		} else {
			// A policy cancelled the attempt (a hedge's loser): says
			// nothing about the server.
			se.Class, se.ctxErr = Ignored, attemptCtx.Err()
		}
	default:
		se.Class = c.classify(method, st)
	}
	if se.Class == Ignored && se.ctxErr == nil && st.Code() == codes.Canceled {
		se.ctxErr = context.Canceled
	}
	switch se.Class {
	case Success:
		return nil, outcome{err: err}
	case Failure, Ignored:
		return permanent(se), outcome{err: err, se: se}
	case Retryable:
		d, retry, _ := parsePushback(trailer[PushbackKey])
		se.retryAfter = d
		if !retry || !idempotent || stacked(cc, method) {
			return permanent(se), outcome{err: err, se: se}
		}
		return se, outcome{err: err, se: se}
	}
	return permanent(se), outcome{err: err, se: se} // a Class out of range: not retried
}

// deadlinePassed reports whether ctx has a deadline that has passed.
func deadlinePassed(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// stacked reports whether grpc-go itself retries method on cc, its service
// config giving it a retryPolicy: each of palisade's attempts is then
// already several, and retrying them would multiply the load on a server
// that is failing. It is asked only of a Retryable failure of an idempotent
// method, off the success path.
func stacked(cc *grpc.ClientConn, method string) bool {
	return cc != nil && cc.GetMethodConfig(method).RetryPolicy != nil
}
