package policy_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a policy that logs when it enters and leaves, to observe the
// order in which a pipeline runs its policies.
type recorder struct {
	name string
	log  *[]string
}

func (r recorder) Execute(ctx context.Context, fn policy.Func) error {
	*r.log = append(*r.log, r.name+">")
	err := fn(ctx)
	*r.log = append(*r.log, "<"+r.name)
	return err
}

func TestPipelineRunsFirstPolicyOutermost(t *testing.T) {
	var log []string
	p := policy.NewPipeline("p", recorder{"a", &log}, recorder{"b", &log}, recorder{"c", &log}).
		WithTelemetry(telemetry.Disabled())
	err := p.Execute(context.Background(), func(context.Context) error {
		log = append(log, "fn")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a>", "b>", "c>", "fn", "<c", "<b", "<a"}, log)
}

func TestPipelineNests(t *testing.T) {
	var log []string
	inner := policy.NewPipeline("inner", recorder{"b", &log}, recorder{"c", &log})
	outer := policy.NewPipeline("outer", recorder{"a", &log}, inner, recorder{"d", &log})
	err := outer.Execute(context.Background(), func(context.Context) error {
		log = append(log, "fn")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a>", "b>", "c>", "d>", "fn", "<d", "<c", "<b", "<a"}, log)
}

func TestPipelineRunsInsideItself(t *testing.T) {
	var log []string
	p := policy.NewPipeline("p", recorder{"a", &log}, recorder{"b", &log})
	depth := 0
	var fn policy.Func
	fn = func(ctx context.Context) error {
		depth++
		if depth == 1 {
			return p.Execute(ctx, fn)
		}
		log = append(log, "fn")
		return nil
	}
	require.NoError(t, p.Execute(context.Background(), fn))
	assert.Equal(t, []string{"a>", "b>", "a>", "b>", "fn", "<b", "<a", "<b", "<a"}, log)
}

func TestEmptyPipelineRunsFunction(t *testing.T) {
	p := policy.NewPipeline("empty")
	want := errors.New("boom")
	calls := 0
	err := p.Execute(context.Background(), func(context.Context) error {
		calls++
		return want
	})
	assert.Same(t, want, err)
	assert.Equal(t, 1, calls)
	assert.Equal(t, "empty", p.Name())
}

type ctxKey struct{}

func TestPipelinePassesCallersContext(t *testing.T) {
	for n := range 4 {
		t.Run(fmt.Sprintf("%d policies", n), func(t *testing.T) {
			var log []string
			ps := make([]policy.Policy, n)
			for i := range ps {
				ps[i] = recorder{fmt.Sprint(i), &log}
			}
			p := policy.NewPipeline("p", ps...)
			ctx := context.WithValue(context.Background(), ctxKey{}, "v")
			var got any
			require.NoError(t, p.Execute(ctx, func(ctx context.Context) error {
				got = ctx.Value(ctxKey{})
				return nil
			}))
			assert.Equal(t, "v", got)
		})
	}
}

func TestPipelineReturnsFunctionErrorUnchanged(t *testing.T) {
	var log []string
	want := &customErr{"db down"}
	p := policy.NewPipeline("p", recorder{"a", &log}, recorder{"b", &log})
	err := p.Execute(context.Background(), func(context.Context) error { return want })
	assert.Same(t, want, err)
}

type detacher struct{}

func (detacher) Execute(_ context.Context, fn policy.Func) error {
	return fn(context.Background())
}

func TestNewPipelinePanicsOnNilPolicy(t *testing.T) {
	assert.PanicsWithValue(t, "policy: NewPipeline: policies[1] is nil", func() {
		policy.NewPipeline("p", detacher{}, nil)
	})
}

func TestPipelineDoesNotAllocatePerPolicy(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ps := make([]policy.Policy, 8)
	for i := range ps {
		ps[i] = passthrough{}
	}
	p := policy.NewPipeline("p", ps...).WithTelemetry(telemetry.Disabled())
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	allocs := testing.AllocsPerRun(100, func() { _ = p.Execute(ctx, fn) })
	assert.Zero(t, allocs, "a call through 8 policies must not allocate")
}

type passthrough struct{}

func (passthrough) Execute(ctx context.Context, fn policy.Func) error { return fn(ctx) }
func (passthrough) AttemptMode() policy.AttemptMode                   { return policy.SequentialAttempts }

// undeclared is a passthrough that does not say it is sequential.
type undeclared struct{}

func (undeclared) Execute(ctx context.Context, fn policy.Func) error { return fn(ctx) }

// A policy that declares no attempt mode is composed with a frame of its
// own for the policies below it, per call: a few allocations, however many
// sequential policies stand above it.
func TestUndeclaredPolicyCostsAFramePerCall(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	p := policy.NewPipeline("p", passthrough{}, undeclared{}, passthrough{}).WithTelemetry(telemetry.Disabled())
	assert.Equal(t, policy.UndeclaredAttempts, p.AttemptMode())
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	allocs := testing.AllocsPerRun(100, func() { _ = p.Execute(ctx, fn) })
	assert.LessOrEqual(t, allocs, 6.0)
	deeper := policy.NewPipeline("p", passthrough{}, passthrough{}, passthrough{}, passthrough{}, undeclared{}, passthrough{}).WithTelemetry(telemetry.Disabled())
	assert.Equal(t, allocs, testing.AllocsPerRun(100, func() { _ = deeper.Execute(ctx, fn) }),
		"sequential policies above cost nothing")
	assert.Equal(t, policy.SequentialAttempts, policy.NewPipeline("q", passthrough{}, passthrough{}).AttemptMode())
	assert.Equal(t, policy.SequentialAttempts, policy.NewPipeline("empty").AttemptMode())
}

func TestGet(t *testing.T) {
	var log []string
	p := policy.NewPipeline("p", recorder{"a", &log}, recorder{"b", &log})
	v, err := policy.Get(context.Background(), p, func(context.Context) (int, error) { return 42, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	want := errors.New("nope")
	s, err := policy.Get(context.Background(), p, func(context.Context) (string, error) { return "", want })
	assert.Same(t, want, err)
	assert.Empty(t, s)
}

func TestGetReturnsZeroWhenRejected(t *testing.T) {
	v, err := policy.Get(context.Background(), rejecter{}, func(context.Context) (int, error) { return 7, nil })
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.Zero(t, v)
}

type rejecter struct{}

func (rejecter) Execute(context.Context, policy.Func) error { return rejection{} }

type rejection struct{}

func (rejection) Error() string             { return "rejected" }
func (rejection) Is(target error) bool      { return target == policy.ErrRejected }
func (rejection) RetryAfter() time.Duration { return 3 * time.Second }
func (rejection) ErrorType() string         { return "test_rejected" }

type customErr struct{ msg string }

func (e *customErr) Error() string { return e.msg }

func TestRetryAfter(t *testing.T) {
	d, ok := policy.RetryAfter(fmt.Errorf("wrapped: %w", rejection{}))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)

	d, ok = policy.RetryAfter(errors.Join(errors.New("a"), rejection{}))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)

	_, ok = policy.RetryAfter(errors.New("plain"))
	assert.False(t, ok)
	_, ok = policy.RetryAfter(nil)
	assert.False(t, ok)
}

func TestConcurrentCallsKeepTheirOwnFunction(t *testing.T) {
	p := policy.NewPipeline("p", passthrough{}, passthrough{}, passthrough{}).
		WithTelemetry(telemetry.Disabled())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 200 {
				want := g*1000 + i
				got, err := policy.Get(context.Background(), p, func(context.Context) (int, error) {
					runtime.Gosched()
					return want, nil
				})
				if err != nil || got != want {
					errs <- fmt.Errorf("call %d got %d, %v", want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPipelineRecoversFromPanickingCall(t *testing.T) {
	p := policy.NewPipeline("p", passthrough{}, passthrough{}).WithTelemetry(telemetry.Disabled())
	assert.PanicsWithValue(t, "boom", func() {
		_ = p.Execute(context.Background(), func(context.Context) error { panic("boom") })
	})
	want := errors.New("after")
	assert.Same(t, want, p.Execute(context.Background(), func(context.Context) error { return want }))
}

func TestGetCostsOneAllocationThroughAPipeline(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	for _, p := range []*policy.Pipeline{
		policy.NewPipeline("empty"),
		policy.NewPipeline("one", passthrough{}),
		policy.NewPipeline("four", passthrough{}, passthrough{}, passthrough{}, passthrough{}),
	} {
		p := p.WithTelemetry(telemetry.Disabled())
		assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _, _ = policy.Get(ctx, p, fn) }), p.Name())
	}
}
