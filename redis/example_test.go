package redis_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
)

// A breaker shared by every replica of a service: run this in each. One
// replica's opening opens the others within milliseconds; half-open, one
// replica at a time runs trial calls.
func ExampleNewBreaker() {
	client := goredis.NewClient(&goredis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // so that StoreTimeout bounds every call
	})
	defer client.Close()

	b, err := palisaderedis.NewBreaker(palisaderedis.BreakerConfig{
		Client: client,
		Key:    "payments", // the same in every replica
		Breaker: breaker.Config{
			Name:          "payments",
			FailureRatio:  0.5,
			BreakDuration: 10 * time.Second,
		},
	})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	err = b.Execute(context.Background(), func(ctx context.Context) error {
		return nil // call the payment provider
	})
	fmt.Println(err, b.State())
}

// A rate limit of 100 calls per second for the whole fleet, in front of a
// dependency; while Redis is unreachable, each of the 4 replicas allows
// itself 25 per second.
func ExampleNewLimiter() {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()

	limit, err := palisaderedis.NewLimiter(palisaderedis.LimiterConfig{
		Client:       client,
		Key:          "geocoder",
		Rate:         100,
		Burst:        10,
		MaxWait:      50 * time.Millisecond,
		OnStoreError: palisaderedis.Local,
		Replicas:     4,
	})
	if err != nil {
		panic(err)
	}
	defer limit.Close()

	err = limit.Execute(context.Background(), func(ctx context.Context) error {
		return nil // call the geocoder
	})
	if errors.Is(err, palisaderedis.ErrRateLimited) {
		wait, _ := policy.RetryAfter(err)
		fmt.Println("try again in", wait)
	}
}
