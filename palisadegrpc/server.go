package palisadegrpc

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

// UnaryServerInterceptor returns an interceptor that runs each unary
// handler through the policy chosen by [WithPolicy] or [WithPolicyFunc]:
// typically a bulkhead, a rate or concurrency limiter, or a breaker around
// the server's own dependency. A rejection answers RESOURCE_EXHAUSTED (an
// open breaker UNAVAILABLE) with a pushback trailer; the handler's own
// errors pass through unchanged; see the package documentation. Use it
// with grpc.ChainUnaryInterceptor (or grpc.UnaryInterceptor).
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p := c.policy(info.FullMethod)
		if p == nil {
			return handler(ctx, req)
		}
		var h handled
		err := p.Execute(ctx, func(ctx context.Context) error {
			resp, err := handler(ctx, req)
			h.set(resp, err)
			return err
		})
		resp, ran, handlerErr := h.get()
		if err == nil {
			return resp, nil
		}
		return nil, c.serverError(ctx, err, handlerErr, ran, func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) })
	}
}

// StreamServerInterceptor returns an interceptor that runs each streaming
// handler through the policy chosen by [WithPolicy] or [WithPolicyFunc],
// for the whole life of the stream: a bulkhead counts the stream as in
// flight until its handler returns. Rejections and errors are answered as
// by [UnaryServerInterceptor]. Use it with grpc.ChainStreamInterceptor (or
// grpc.StreamInterceptor).
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		p := c.policy(info.FullMethod)
		if p == nil {
			return handler(srv, ss)
		}
		var h handled
		ctx := ss.Context()
		err := p.Execute(ctx, func(pctx context.Context) error {
			stream := ss
			if pctx != ctx {
				stream = &serverStream{ServerStream: ss, ctx: pctx}
			}
			err := handler(srv, stream)
			h.set(nil, err)
			return err
		})
		if err == nil {
			return nil
		}
		_, ran, handlerErr := h.get()
		return c.serverError(ctx, err, handlerErr, ran, ss.SetTrailer)
	}
}

// handled is what the last run of a handler returned. A policy may return
// while a run it abandoned goes on (an abandoning timeout): the mutex keeps
// that run's late result from racing the interceptor's reading.
type handled struct {
	mu   sync.Mutex
	resp any
	err  error
	ran  bool
}

func (h *handled) set(resp any, err error) {
	h.mu.Lock()
	h.resp, h.err, h.ran = resp, err, true
	h.mu.Unlock()
}

func (h *handled) get() (resp any, ran bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resp, h.ran, h.err
}

// serverStream is a server stream whose Context is the policy's: its
// deadline and span.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// serverError returns the error a server answers when its policy returned
// err; handlerErr is the last handler's error, ran whether any handler
// ran. The handler's error passes through unchanged; a rejection becomes a
// status with a pushback trailer, set through setTrailer; anything else
// (a timeout's error wrapping the handler's, say) goes to grpc-go as it is,
// which answers the status it wraps, if any, else UNKNOWN (or, for a
// context's error, CANCELLED or DEADLINE_EXCEEDED).
func (c *config) serverError(ctx context.Context, err, handlerErr error, ran bool, setTrailer func(metadata.MD)) error {
	if ran && sameError(err, handlerErr) {
		return err
	}
	if !errors.Is(err, policy.ErrRejected) {
		return err
	}
	var code codes.Code
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The call's context ended while it waited in the policy (a
		// bulkhead's queue): the client is gone or out of time.
		return status.FromContextError(ctxErr(ctx, err)).Err()
	case errors.Is(err, breaker.ErrOpen):
		code = codes.Unavailable
	default:
		code = codes.ResourceExhausted
	}
	if d, ok := policy.RetryAfter(err); ok {
		setTrailer(pushbackMD(d))
	} else if c.rejectionPushback > 0 {
		setTrailer(pushbackMD(c.rejectionPushback))
	}
	return status.Error(code, err.Error())
}

// sameError reports whether a and b are the same error value, without
// the panic of == on two errors of one uncomparable type.
func sameError(a, b error) bool {
	t := reflect.TypeOf(a)
	return t == reflect.TypeOf(b) && t != nil && t.Comparable() && a == b
}

// ctxErr returns ctx's error if it has ended, else err.
func ctxErr(ctx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	return err
}
