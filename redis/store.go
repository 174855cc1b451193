package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/internal/report"
)

// Defaults shared by the policies of this package.
const (
	// DefaultStoreTimeout bounds every call to Redis.
	DefaultStoreTimeout = 100 * time.Millisecond
	// DefaultKeyPrefix starts the name of every key and channel.
	DefaultKeyPrefix = "palisade"
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("palisade/redis: "+format, args...)
}

// checkClient makes sure that client exists and that a context's deadline
// bounds its calls: without ContextTimeoutEnabled, go-redis waits for its
// own ReadTimeout (3s by default) whatever the context says, and a slow
// Redis would hold the policy's store calls that long.
func checkClient(config string, client goredis.UniversalClient) error {
	if client == nil {
		return errorf("%s.Client is required", config)
	}
	var enabled bool
	switch c := client.(type) {
	case *goredis.Client:
		enabled = c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		enabled = c.Options().ContextTimeoutEnabled
	case *goredis.Ring:
		enabled = c.Options().ContextTimeoutEnabled
	default:
		return nil // another implementation: its own business
	}
	if !enabled {
		return errorf("%s.Client must have ContextTimeoutEnabled set in its options, so that StoreTimeout bounds every call to Redis", config)
	}
	return nil
}

// store is what a policy needs to call Redis: the client, the bound on
// each call, and the reporter of failed calls.
type store struct {
	client  goredis.UniversalClient
	timeout time.Duration
	report  *report.Store
}

// call runs one Redis command (or script) bounded by the store timeout,
// reporting its failure. A nil result from a script (redis.Nil) is not a
// failure.
func (s *store) call(ctx context.Context, do func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := do(ctx)
	if err == nil || errors.Is(err, goredis.Nil) {
		return nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() == context.Canceled {
		return err // closing: not the store's fault
	}
	s.report.Failed(errors.Is(err, context.DeadlineExceeded) || isTimeout(err))
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// key returns the name of a key of the policy of type kind called name:
// prefix:kind:{name}:suffix. The braces make every key of one policy hash
// to the same Redis Cluster slot, so that one script may use them all.
func key(prefix, kind, name, suffix string) string {
	return prefix + ":" + kind + ":{" + name + "}:" + suffix
}
