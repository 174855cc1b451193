package policy_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// Callers that give up while queued in a bulkhead never reached the
// dependency: a breaker outside must not count them as its failures, with or
// without a timeout between the two.
func TestQueueWaitsAreNotTheDependencysFailures(t *testing.T) {
	for _, shape := range []struct {
		name    string
		timeout bool
	}{{"breaker→bulkhead", false}, {"breaker→timeout→bulkhead", true}} {
		t.Run(shape.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				off := telemetry.Disabled()
				br := breaker.Must(breaker.Config{ConsecutiveFailures: 3, Telemetry: off})
				bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 10, Telemetry: off})
				policies := []policy.Policy{br}
				if shape.timeout {
					policies = append(policies, timeout.Must(timeout.Config{Duration: 10 * time.Millisecond, Telemetry: off}))
				}
				p := policy.NewPipeline("users", append(policies, bh)...).WithTelemetry(off)

				// A healthy call holds the only slot for a second.
				release := make(chan struct{})
				holderDone := make(chan error, 1)
				go func() {
					holderDone <- bh.Execute(t.Context(), func(context.Context) error { <-release; return nil })
				}()
				synctest.Wait()

				errs := make(chan error, 5)
				for range 5 {
					go func() {
						ctx := t.Context()
						if !shape.timeout {
							var cancel context.CancelFunc
							ctx, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
							defer cancel()
						}
						errs <- p.Execute(ctx, func(context.Context) error {
							t.Error("a queued call reached the dependency")
							return nil
						})
					}()
				}
				for range 5 {
					err := <-errs
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.ErrorIs(t, err, policy.ErrRejected, "it never reached the dependency")
				}
				close(release)
				require.NoError(t, <-holderDone)

				m := br.Metrics()
				assert.Equal(t, breaker.Closed, m.State, "nothing reached the dependency")
				assert.Zero(t, m.Failures)
				assert.Zero(t, m.ConsecutiveFailures)
			})
		})
	}
}
