package bulkhead_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

// call is one Execute running in its own goroutine, whose function blocks
// until finish is called.
type call struct {
	started  chan struct{} // closed when the function starts
	release  chan struct{} // closed by finish: the function returns
	done     chan struct{} // closed when Execute returned
	err      error
	panicVal any // what the function panics with, if not nil
}

// start runs b.Execute(ctx, ...) in a new goroutine.
func start(ctx context.Context, b *bulkhead.Bulkhead) *call {
	c := &call{started: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = b.Execute(ctx, func(context.Context) error {
			close(c.started)
			<-c.release
			return nil
		})
	}()
	return c
}

// ran reports whether the call's function has started.
func (c *call) ran() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

// returned reports whether Execute has returned.
func (c *call) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// finish lets the call's function return.
func (c *call) finish() { close(c.release) }

// result waits for Execute to return and gives its error.
func (c *call) result() error {
	<-c.done
	return c.err
}

func mustNew(t testing.TB, cfg bulkhead.Config) *bulkhead.Bulkhead {
	t.Helper()
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noop(context.Context) error { return nil }

// assertWaitEnded asserts that err is the error of a call whose context
// ended, with ctxErr, before it got a slot: it never reached its function,
// so it matches policy.ErrRejected as well as ctxErr, but not ErrFull.
func assertWaitEnded(t *testing.T, ctxErr, err error) {
	t.Helper()
	assert.ErrorIs(t, err, ctxErr)
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.NotErrorIs(t, err, bulkhead.ErrFull)
}
