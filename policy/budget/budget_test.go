package budget_test

import (
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/budget"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBudgetConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg   budget.Config
		field string
	}{
		{budget.Config{Ratio: -0.1}, "Config.Ratio"},
		{budget.Config{Ratio: math.NaN()}, "Config.Ratio"},
		{budget.Config{Ratio: math.Inf(1)}, "Config.Ratio"},
		{budget.Config{MinExtra: -1}, "Config.MinExtra"},
		{budget.Config{Window: -time.Second}, "Config.Window"},
	} {
		_, err := budget.New(c.cfg)
		require.Error(t, err, "%+v", c.cfg)
		assert.Contains(t, err.Error(), c.field)
		assert.Panics(t, func() { budget.Must(c.cfg) })
	}
	assert.Equal(t, budget.DefaultWindow, budget.Must(budget.Config{}).Window())
	assert.Equal(t, time.Minute, budget.Must(budget.Config{Window: time.Minute}).Window())
}

// retries returns the retries one call through r made before it ended, and
// its error.
func TestBudgetAllowsMinExtraPlusRatioOfCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{Ratio: 0.5, MinExtra: 1, Window: 10 * time.Second})
		assert.True(t, b.TryExtra(), "MinExtra allows one with no call")
		assert.False(t, b.TryExtra())
		for range 4 {
			b.Call()
		}
		// 1 + 0.5 × 4 = 3 in all: two more.
		assert.True(t, b.TryExtra())
		assert.True(t, b.TryExtra())
		assert.False(t, b.TryExtra(), "a refusal counts nothing")
		assert.Equal(t, budget.Stats{Calls: 4, Extra: 3}, b.Stats())

		time.Sleep(5 * time.Second)
		b.Call()
		assert.Equal(t, budget.Stats{Calls: 5, Extra: 3}, b.Stats())
		time.Sleep(5 * time.Second)
		// The first buckets left the window.
		assert.Equal(t, budget.Stats{Calls: 1, Extra: 0}, b.Stats())
		time.Sleep(time.Minute)
		assert.Equal(t, budget.Stats{}, b.Stats())
	})
}

func TestBudgetIsNeverExceededUnderContention(t *testing.T) {
	b := budget.Must(budget.Config{Ratio: 0.1, MinExtra: 5, Window: time.Hour})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 16 {
		wg.Go(func() {
			n := 0
			for range 1000 {
				b.Call()
				if b.TryExtra() {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	require.LessOrEqual(t, float64(allowed), 5+0.1*16000)
	assert.Equal(t, int64(allowed), b.Stats().Extra)
	assert.Equal(t, int64(16000), b.Stats().Calls)
	_ = math.Inf
}
