package palisadehttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
)

// maxBuffered is how much of a failed response's body an attempt reads into
// memory: enough for any error page, so that the connection is free for the
// next attempt, and bounded, so that a huge one costs no more.
const maxBuffered = 64 << 10

// attemptContext is the context with which one attempt's request is sent.
//
// The attempt's own context (a policy's: with its deadline, its span, its
// attempt number) ends when the attempt returns: a timeout policy cancels
// it then. A response body read after RoundTrip has returned must not die
// with it. So the request goes out with a context that has the values of the
// attempt's context, the cancellation of the request's own context, and the
// cancellation of the attempt's context only until the attempt detaches from
// it, once the response headers (and a failed response's first bytes) are
// in.
type attemptContext struct {
	ctx    context.Context
	cancel context.CancelCauseFunc // nil when ctx is the attempt's own
	stop   func() bool             // stops the attempt's cancellation from reaching ctx
}

func newAttemptContext(reqCtx, ctx context.Context) *attemptContext {
	if ctx.Done() == reqCtx.Done() {
		// The policy gave the attempt no cancellation of its own: its
		// context outlives the attempt as the request's does.
		return &attemptContext{ctx: ctx}
	}
	a := &attemptContext{}
	a.ctx, a.cancel = context.WithCancelCause(detached{Context: reqCtx, values: context.WithoutCancel(ctx)})
	a.stop = context.AfterFunc(ctx, func() { a.cancel(context.Cause(ctx)) })
	return a
}

// end releases the attempt's context: its request is done with.
func (a *attemptContext) end() {
	if a.cancel != nil {
		a.stop()
		a.cancel(nil)
	}
}

// detach stops the end of the attempt from cancelling resp's body, which
// will release the attempt's context when it is read to its end or closed.
func (a *attemptContext) detach(resp *http.Response) {
	if a.cancel == nil {
		return
	}
	a.stop()
	if resp.Body == nil || resp.Body == http.NoBody {
		a.cancel(nil)
		return
	}
	resp.Body = newBody(resp.Body, resp.Body, a.end)
}

// detached is a context with the deadline and cancellation of the request's
// context and the values of the attempt's, which derives from it.
type detached struct {
	context.Context                 // the request's: Deadline, Done, Err
	values          context.Context // context.WithoutCancel(the attempt's)
}

// Value returns the attempt's value for key. Without one it asks the
// request's context, the only one that answers the context package's own
// lookup of the cancellation (and its cause) a context derives from.
func (d detached) Value(key any) any {
	if v := d.values.Value(key); v != nil {
		return v
	}
	return d.Context.Value(key)
}

// AfterFunc lets context.WithCancelCause register on the request's context
// without a goroutine.
func (d detached) AfterFunc(f func()) func() bool { return context.AfterFunc(d.Context, f) }

// bufferFailed reads up to maxBuffered bytes of a failed response's body
// into memory, under the attempt's deadline, and then detaches it from the
// attempt. A body read to its end is closed at once, so that its connection
// can serve the next attempt, and replaced by the bytes read; a longer one
// keeps its connection until it is closed.
func bufferFailed(resp *http.Response, a *attemptContext) {
	if resp.Body == nil || resp.Body == http.NoBody {
		a.end()
		return
	}
	orig := resp.Body
	data, err := io.ReadAll(io.LimitReader(orig, maxBuffered+1))
	if err == nil && len(data) <= maxBuffered { // read to the end
		orig.Close()
		a.end()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return
	}
	if a.stop != nil {
		a.stop()
	}
	// Longer than maxBuffered, or the read failed: the rest, or the error,
	// comes from the original body after the bytes read.
	resp.Body = newBody(io.MultiReader(bytes.NewReader(data), orig), orig, a.end)
}

// body is a response body that calls release once, when it is read to its
// end or closed.
type body struct {
	r       io.Reader
	orig    io.ReadCloser
	once    sync.Once
	release func()
}

// newBody returns a body reading r and closing orig; for a 101 Switching
// Protocols response, whose body is also the connection's writer, it writes
// to orig too.
func newBody(r io.Reader, orig io.ReadCloser, release func()) io.ReadCloser {
	b := &body{r: r, orig: orig, release: release}
	if w, ok := orig.(io.Writer); ok {
		return &readWriteBody{body: b, w: w}
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *body) Close() error {
	err := b.orig.Close()
	b.once.Do(b.release)
	return err
}

type readWriteBody struct {
	*body
	w io.Writer
}

func (b *readWriteBody) Write(p []byte) (int, error) { return b.w.Write(p) }
