package palisadehttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxBuffered is how much of a failed response's body an attempt reads into
// memory: enough for any error page, so that the connection is free for the
// next attempt, and bounded, so that a huge one costs no more.
const maxBuffered = 64 << 10

// drainWait is how long an attempt waits for a failed response's body to
// end: enough for an error page sent with its headers or just after them,
// and short, so that a server that sends its headers and stalls does not hold
// the attempt, and what it holds (a bulkhead slot), until a deadline, or
// forever without one.
const drainWait = 100 * time.Millisecond

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
// into memory, for no longer than drainWait and within the attempt's
// deadline, and then detaches it from the attempt. A body read to its end is
// closed at once, so that its connection can serve the next attempt, and
// replaced by the bytes read. A longer one, or one that has not ended by
// then — a server that sent its headers and stalls — keeps its connection
// until it is closed: the next attempt closes it (and so the connection)
// rather than wait for it, and a caller given the response reads the rest.
func bufferFailed(resp *http.Response, a *attemptContext) {
	if resp.Body == nil || resp.Body == http.NoBody {
		a.end()
		return
	}
	orig := resp.Body
	d := &drain{orig: orig, done: make(chan struct{})}
	// The read runs apart so that the attempt can stop waiting for it: a
	// body's Read cannot be given a deadline, only ended by closing it.
	go d.fill()
	timer := time.NewTimer(drainWait)
	select {
	case <-d.done:
		timer.Stop()
		if d.err == nil && len(d.data) <= maxBuffered { // read to the end
			orig.Close()
			a.end()
			resp.Body = io.NopCloser(bytes.NewReader(d.data))
			return
		}
	case <-timer.C:
		d.stop.Store(true) // fill returns when its Read in progress does
	}
	if a.stop != nil {
		a.stop()
	}
	// Longer than maxBuffered, not ended in time, or the read failed: the
	// rest, or the error, comes from the original body after the bytes read.
	resp.Body = newBody(d, orig, a.end)
}

// drain is a failed response's body being read into memory by fill, in a
// goroutine of its own, and then, through Read, the bytes read followed by
// the rest of the body.
type drain struct {
	orig io.Reader
	stop atomic.Bool   // set when the attempt has stopped waiting for fill
	done chan struct{} // closed when fill returns

	// Written by fill before done is closed, read only after.
	data []byte
	err  error // the read's error, io.EOF excluded
	off  int   // how much of data Read has returned
}

// fill reads orig until it ends, fails, holds more than maxBuffered bytes,
// or the attempt stops waiting for it. It returns when the Read in progress
// does: when data comes, or when orig is closed or its request ends.
func (d *drain) fill() {
	defer close(d.done)
	buf := make([]byte, 0, 512)
	for len(buf) <= maxBuffered && !d.stop.Load() {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := d.orig.Read(buf[len(buf):min(cap(buf), maxBuffered+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			d.err = err
			break
		}
	}
	d.data = buf
}

// Read returns the bytes fill read, once it has returned, and then reads the
// rest of the body, or returns fill's error.
func (d *drain) Read(p []byte) (int, error) {
	<-d.done
	if d.off < len(d.data) {
		n := copy(p, d.data[d.off:])
		d.off += n
		return n, nil
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.orig.Read(p)
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
