package palisadegrpc

import (
	"time"

	"google.golang.org/grpc/status"

	"github.com/palisade-go/palisade/policy"
)

// Option configures an interceptor of this package. Options that concern
// only clients or only servers say so, and are ignored by the other side.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPolicy runs every call through p, typically a *policy.Pipeline. It
// replaces an earlier WithPolicy or WithPolicyFunc. Without either option an
// interceptor passes every call through untouched.
func WithPolicy(p policy.Policy) Option {
	return optionFunc(func(c *config) {
		c.policyFor = func(string) policy.Policy { return p }
		if p == nil {
			c.policyFor = nil
		}
	})
}

// WithPolicyFunc chooses the policy of each call by its full method name,
// such as "/package.Service/Method"; a nil policy lets the call through
// untouched. The function is called once per call and must be quick and
// safe for concurrent use: look the policy up in a map, or keep one
// pipeline per method or per service, built ahead. It replaces an earlier
// WithPolicy or WithPolicyFunc.
func WithPolicyFunc(f func(fullMethod string) policy.Policy) Option {
	return optionFunc(func(c *config) { c.policyFor = f })
}

// WithClassifier replaces [DefaultClassifier] for a client's calls: f tells
// the [Class] of every status other than OK that a call ends with (an error
// that is not a gRPC status counts as codes.Unknown). It is not asked about
// a call whose caller's context ended: that call is always [Ignored]. It
// must be quick and safe for concurrent use. Client only.
func WithClassifier(f func(fullMethod string, st *status.Status) Class) Option {
	return optionFunc(func(c *config) {
		c.classify = f
		if f == nil {
			c.classify = DefaultClassifier
		}
	})
}

// WithIdempotent marks methods, by full name ("/package.Service/Method"),
// as safe to call more than once: only their [Retryable] failures may be
// retried by the client's policy. It adds to the methods of earlier
// WithIdempotent options, and to those of WithIdempotentFunc. Client only.
func WithIdempotent(fullMethods ...string) Option {
	return optionFunc(func(c *config) {
		if c.idempotent == nil {
			c.idempotent = make(map[string]bool, len(fullMethods))
		}
		for _, m := range fullMethods {
			c.idempotent[m] = true
		}
	})
}

// WithIdempotentFunc marks as idempotent every method for which f reports
// true, in addition to those named by WithIdempotent; it replaces an earlier
// WithIdempotentFunc. f must be quick and safe for concurrent use. Client
// only.
func WithIdempotentFunc(f func(fullMethod string) bool) Option {
	return optionFunc(func(c *config) { c.idempotentFunc = f })
}

// WithRejectionPushback sets the pushback (the grpc-retry-pushback-ms
// trailer) that a server sends with a rejection whose error carries no
// RetryAfter hint of its own, such as a full bulkhead's; d is rounded up to
// a whole millisecond. Default 0: such a rejection carries no pushback, and
// the client waits as its own backoff says. A rejection with a hint (an
// open breaker's remaining break, a rate limiter's next permit) sends that
// hint instead. Server only.
func WithRejectionPushback(d time.Duration) Option {
	return optionFunc(func(c *config) { c.rejectionPushback = max(d, 0) })
}

// config is the configuration of one interceptor, fixed when it is built.
type config struct {
	policyFor         func(fullMethod string) policy.Policy // nil: no policy
	classify          func(fullMethod string, st *status.Status) Class
	idempotent        map[string]bool
	idempotentFunc    func(fullMethod string) bool
	rejectionPushback time.Duration
}

func newConfig(opts []Option) *config {
	c := &config{classify: DefaultClassifier}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	return c
}

// policy returns the policy of method, or nil for none.
func (c *config) policy(method string) policy.Policy {
	if c.policyFor == nil {
		return nil
	}
	return c.policyFor(method)
}

// isIdempotent reports whether the user marked method as idempotent.
func (c *config) isIdempotent(method string) bool {
	if c.idempotent[method] {
		return true
	}
	return c.idempotentFunc != nil && c.idempotentFunc(method)
}
