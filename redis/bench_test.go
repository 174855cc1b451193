package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

// The per-call cost of the shared breaker against the local one (closed,
// success), and gobreaker's DistributedCircuitBreaker on the same Redis,
// with the Redis commands per call (cmds/op) counted by a go-redis hook.
//
//	go test -run '^$' -bench . -benchmem ./redis/
func BenchmarkBreaker(b *testing.B) {
	ctx := context.Background()
	cfg := breaker.Config{Telemetry: telemetry.Disabled()}
	b.Run("local", func(b *testing.B) {
		local := breaker.Must(cfg)
		for b.Loop() {
			_ = local.Execute(ctx, ok)
		}
	})
	b.Run("local/parallel", func(b *testing.B) {
		local := breaker.Must(cfg)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = local.Execute(ctx, ok)
			}
		})
	})
	b.Run("shared", func(b *testing.B) {
		client := localRedis(b)
		var n counter
		client.AddHook(&n)
		s := newShared(b, client, uniqueKey(b), palisaderedis.BreakerConfig{Breaker: cfg})
		time.Sleep(10 * time.Millisecond)
		before := n.n.Load()
		for b.Loop() {
			_ = s.Execute(ctx, ok)
		}
		b.ReportMetric(float64(n.n.Load()-before)/float64(b.N), "cmds/op")
	})
	b.Run("shared/parallel", func(b *testing.B) {
		s := newShared(b, localRedis(b), uniqueKey(b), palisaderedis.BreakerConfig{Breaker: cfg})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = s.Execute(ctx, ok)
			}
		})
	})
	b.Run("gobreaker-distributed", func(b *testing.B) {
		client := localRedis(b)
		var n counter
		client.AddHook(&n)
		st := &gobreakerStore{client: client, prefix: uniqueKey(b)}
		dcb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](st, gobreaker.Settings{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		before := n.n.Load()
		for b.Loop() {
			_, _ = dcb.Execute(func() (struct{}, error) { return struct{}{}, nil })
		}
		b.ReportMetric(float64(n.n.Load()-before)/float64(b.N), "cmds/op")
	})
}

// BenchmarkLimiter measures Allow at a rate the benchmark saturates:
// mostly local grants from a batch, rejections without a round trip, and
// a round trip per batch.
func BenchmarkLimiter(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "allow"
		if parallel {
			name += "/parallel"
		}
		b.Run(name, func(b *testing.B) {
			client := localRedis(b)
			var n counter
			client.AddHook(&n)
			l := newLimiter(b, client, uniqueKey(b), palisaderedis.LimiterConfig{Rate: 1e6})
			before := n.n.Load()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						l.Allow()
					}
				})
			} else {
				for b.Loop() {
					l.Allow()
				}
			}
			b.ReportMetric(float64(n.n.Load()-before)/float64(b.N), "cmds/op")
		})
	}
}

// gobreakerStore is gobreaker's SharedDataStore on go-redis: a lock by
// SET NX PX, the state in a string key.
type gobreakerStore struct {
	client *goredis.Client
	prefix string
}

var errLocked = errors.New("gobreaker store: lock not acquired in 1s")

func (s *gobreakerStore) Lock(name string) error {
	ctx := context.Background()
	for range 10000 {
		ok, err := s.client.SetNX(ctx, s.prefix+":lock:"+name, "1", 5*time.Second).Result()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(100 * time.Microsecond)
	}
	return errLocked
}

func (s *gobreakerStore) Unlock(name string) error {
	return s.client.Del(context.Background(), s.prefix+":lock:"+name).Err()
}

func (s *gobreakerStore) GetData(name string) ([]byte, error) {
	data, err := s.client.Get(context.Background(), s.prefix+":data:"+name).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	return data, err
}

func (s *gobreakerStore) SetData(name string, data []byte) error {
	return s.client.Set(context.Background(), s.prefix+":data:"+name, data, 0).Err()
}
