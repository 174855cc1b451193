package policy_test

// The Policy contract for policies whose attempts overlap or outlive their
// Execute: a hedge that returns the first success without waiting for the
// others, and a timeout that abandons its attempt.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

type attemptCtxKey int

const (
	callKey attemptCtxKey = iota
	attemptKey
)

// hedger runs two attempts at once: attempt 0 and, at once, attempt 1. It
// returns the first success, cancelling the other attempt without waiting
// for it, or the last failure.
type hedger struct{}

func (hedger) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

func (hedger) Execute(ctx context.Context, fn policy.Func) error {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan error, 2)
	for i := range 2 {
		go func() { results <- fn(context.WithValue(ctx, attemptKey, i)) }()
	}
	var err error
	for range 2 {
		if err = <-results; err == nil {
			cancel() // the loser goes on until it sees its context end
			return nil
		}
	}
	cancel()
	return err
}

var errAbandoned = errors.New("abandoned")

// abandoner returns errAbandoned after a second if its attempt has not
// ended, leaving the attempt running.
type abandoner struct{}

func (abandoner) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

func (abandoner) Execute(ctx context.Context, fn policy.Func) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return errAbandoned
	}
}

// lateCaller returns at once and calls fn afterwards, as no policy may.
type lateCaller struct {
	panicked chan any
}

func (l lateCaller) Execute(ctx context.Context, fn policy.Func) error {
	go func() {
		time.Sleep(time.Millisecond) // Execute has returned by then
		defer func() { l.panicked <- recover() }()
		_ = fn(ctx)
	}()
	return nil
}

func (lateCaller) Name() string { return "late" }

// shapes are pipelines of every shape around a concurrent policy c.
func shapes(c policy.Policy) map[string]*policy.Pipeline {
	seq := passthrough{}
	tel := telemetry.Disabled()
	return map[string]*policy.Pipeline{
		"c":              policy.NewPipeline("c", c).WithTelemetry(tel),
		"c,seq":          policy.NewPipeline("c,seq", c, seq).WithTelemetry(tel),
		"seq,c":          policy.NewPipeline("seq,c", seq, c).WithTelemetry(tel),
		"seq,c,seq":      policy.NewPipeline("seq,c,seq", seq, c, seq, seq).WithTelemetry(tel),
		"c,c":            policy.NewPipeline("c,c", c, seq, c).WithTelemetry(tel),
		"seq,[seq,c]":    policy.NewPipeline("nested", seq, policy.NewPipeline("inner", seq, c).WithTelemetry(tel)).WithTelemetry(tel),
		"seq,undeclared": policy.NewPipeline("undeclared", seq, undeclared{}, c, seq).WithTelemetry(tel),
	}
}

// TestHedgedAttemptsRunTheirOwnCall runs many calls at once through a
// hedging policy in pipelines of every shape: every attempt runs its own
// call's function (it sees its own call's context), Get returns the
// winner's value, and losers ending after the call change nothing.
func TestHedgedAttemptsRunTheirOwnCall(t *testing.T) {
	for name, p := range shapes(hedger{}) {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, policy.ConcurrentAttempts, p.AttemptMode())
			synctest.Test(t, func(t *testing.T) {
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						for i := range 50 {
							id := g*1000 + i
							ctx := context.WithValue(context.Background(), callKey, id)
							v, err := policy.Get(ctx, p, func(ctx context.Context) (int, error) {
								if got := ctx.Value(callKey); got != id {
									panic(fmt.Sprintf("call %d ran the function of call %v", id, got))
								}
								if ctx.Value(attemptKey) == 0 {
									// The slow attempt: it loses, and ends
									// after the call returned.
									<-ctx.Done()
									time.Sleep(time.Millisecond)
									return id*10 + 9, ctx.Err()
								}
								time.Sleep(time.Microsecond)
								return id*10 + 1, nil
							})
							if err != nil || v != id*10+1 {
								t.Errorf("call %d: Get = %d, %v; want the winner's %d", id, v, err, id*10+1)
							}
							err = p.Execute(ctx, func(ctx context.Context) error {
								if got := ctx.Value(callKey); got != id {
									panic(fmt.Sprintf("call %d ran the function of call %v", id, got))
								}
								return nil
							})
							assert.NoError(t, err)
						}
					})
				}
				wg.Wait()
				time.Sleep(time.Second) // every loser ends: no goroutine outlives its attempt
				synctest.Wait()
			})
		})
	}
}

// TestAbandonedAttemptsKeepTheirCall runs calls through a policy that
// returns while its attempt still runs: the attempt, resuming later while
// other calls go on, still runs its own call's function, and its value
// does not reach Get.
func TestAbandonedAttemptsKeepTheirCall(t *testing.T) {
	for name, p := range shapes(abandoner{}) {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Go(func() {
						for i := range 20 {
							id := g*1000 + i
							ctx := context.WithValue(context.Background(), callKey, id)
							slow := i%2 == 0
							v, err := policy.Get(ctx, p, func(ctx context.Context) (int, error) {
								if slow {
									time.Sleep(2 * time.Second) // ignores ctx: abandoned
								}
								if got := ctx.Value(callKey); got != id {
									panic(fmt.Sprintf("call %d ran the function of call %v", id, got))
								}
								return id, nil
							})
							switch {
							case slow && (v != 0 || !errors.Is(err, errAbandoned)):
								t.Errorf("abandoned call %d: Get = %d, %v; want 0, errAbandoned", id, v, err)
							case !slow && (v != id || err != nil):
								t.Errorf("call %d: Get = %d, %v", id, v, err)
							}
						}
					})
				}
				wg.Wait()
				time.Sleep(3 * time.Second) // the abandoned attempts end
				synctest.Wait()
			})
		})
	}
}

// TestLateCallPanicsNamingThePolicy: a policy that calls its function after
// its Execute returned, without having declared anything, gets a panic
// saying so, and the function of no call runs.
func TestLateCallPanicsNamingThePolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		late := lateCaller{panicked: make(chan any, 1)}
		p := policy.NewPipeline("p", passthrough{}, late, passthrough{}).WithTelemetry(telemetry.Disabled())
		ran := 0
		require.NoError(t, p.Execute(context.Background(), func(context.Context) error {
			ran++
			return nil
		}))
		// Other calls reuse what they can meanwhile.
		for range 10 {
			_ = p.Execute(context.Background(), func(context.Context) error { return nil })
			<-late.panicked
		}
		v := <-late.panicked
		msg, _ := v.(string)
		assert.True(t, strings.Contains(msg, `policy "late"`) && strings.Contains(msg, "after its Execute returned"), "panic: %v", v)
		assert.Zero(t, ran, "the late attempt ran no function")
	})
}

// A policy that lies about being sequential, calling its function after
// returning, gets a panic rather than a crash, as long as its frame has not
// been reused.
type lyingSequential struct{ lateCaller }

func (lyingSequential) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }

func TestLateCallOfDeclaredSequentialPanics(t *testing.T) {
	if raceEnabled {
		t.Skip("the lying policy races with the pipeline by construction")
	}
	synctest.Test(t, func(t *testing.T) {
		late := lyingSequential{lateCaller{panicked: make(chan any, 1)}}
		p := policy.NewPipeline("p", passthrough{}, late).WithTelemetry(telemetry.Disabled())
		require.NoError(t, p.Execute(context.Background(), func(context.Context) error { return nil }))
		v := <-late.panicked
		assert.Contains(t, fmt.Sprint(v), "declared SequentialAttempts called its function after its Execute returned")
	})
}

// TestGetThroughBarePolicies: Get through a policy that is not a pipeline
// follows the same rules.
func TestGetThroughBareConcurrentPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := policy.Get(context.Background(), hedger{}, func(ctx context.Context) (string, error) {
			if ctx.Value(attemptKey) == 0 {
				<-ctx.Done()
				return "loser", ctx.Err()
			}
			return "winner", nil
		})
		require.NoError(t, err)
		assert.Equal(t, "winner", v)
		time.Sleep(time.Second)
		synctest.Wait()
	})
}
