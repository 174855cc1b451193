package redis_test

import (
	"math"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

// Any BreakerConfig either builds a breaker or is refused with an error
// naming a field; none panics.
func FuzzBreakerConfig(f *testing.F) {
	f.Add("k", int64(0), int64(0), int64(0), 0, int64(0), 0.0)
	f.Add("", int64(-1), int64(5), int64(1), 3, int64(-5), 0.5)
	f.Add("k", int64(time.Second), int64(time.Second), int64(time.Second), -1, int64(time.Minute), 2.0)
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	f.Cleanup(func() { _ = client.Close() })
	f.Fuzz(func(t *testing.T, key string, poll, storeTimeout, lease int64, quorum int, window int64, ratio float64) {
		b, err := palisaderedis.NewBreaker(palisaderedis.BreakerConfig{
			Client: client, Key: key,
			PollInterval: time.Duration(poll), StoreTimeout: time.Duration(storeTimeout),
			LeaseDuration: time.Duration(lease), Quorum: quorum, QuorumWindow: time.Duration(window),
			Breaker: breaker.Config{FailureRatio: ratio, Telemetry: telemetry.Disabled()},
		})
		if err != nil {
			if !strings.Contains(err.Error(), "Config.") {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		_ = b.Close()
	})
}

// Any LimiterConfig either builds a limiter or is refused with an error
// naming a field; none panics.
func FuzzLimiterConfig(f *testing.F) {
	f.Add("k", 10.0, 1, int64(0), 0, int64(0), 0, 0, int64(0))
	f.Add("k", math.Inf(1), -1, int64(-1), -1, int64(-1), 3, -1, int64(-1))
	f.Add("", math.NaN(), 0, int64(0), 0, int64(0), 2, 0, int64(0))
	f.Add("k", 1e-300, 1<<30, int64(time.Hour), 1<<30, int64(time.Hour), 2, 1<<30, int64(time.Hour))
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	f.Cleanup(func() { _ = client.Close() })
	f.Fuzz(func(t *testing.T, key string, rate float64, burst int, maxWait int64, batch int, storeTimeout int64, onError, replicas int, retry int64) {
		l, err := palisaderedis.NewLimiter(palisaderedis.LimiterConfig{
			Client: client, Key: key, Rate: rate, Burst: burst, MaxWait: time.Duration(maxWait),
			Batch: batch, StoreTimeout: time.Duration(storeTimeout), OnStoreError: palisaderedis.StoreFailure(onError),
			Replicas: replicas, StoreRetry: time.Duration(retry), Telemetry: telemetry.Disabled(),
		})
		if err != nil {
			if !strings.Contains(err.Error(), "Config.") {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		_ = l.Close()
	})
}
