// Package semconv holds the names palisade reports under: instruments, span
// events, attribute keys and the values of palisade.policy.type. It is the
// one place that knows them; package telemetry and the reporters in
// internal/report take them from here.
package semconv

import "go.opentelemetry.io/otel/attribute"

// Instrument names.
const (
	PipelineDuration     = "palisade.pipeline.duration"
	BreakerStatus        = "palisade.breaker.status"
	BreakerTransitions   = "palisade.breaker.transitions"
	BreakerFailureRatio  = "palisade.breaker.failure_ratio"
	RejectedCalls        = "palisade.rejected_calls"
	RetryRetries         = "palisade.retry.retries"
	TimeoutTimeouts      = "palisade.timeout.timeouts"
	TimeoutAbandoned     = "palisade.timeout.abandoned"
	BulkheadUsage        = "palisade.bulkhead.usage"
	BulkheadLimit        = "palisade.bulkhead.limit"
	BulkheadQueued       = "palisade.bulkhead.queued"
	BudgetRetries        = "palisade.budget.spent"
	FallbackUses         = "palisade.fallback.uses"
	HedgeHedges          = "palisade.hedge.hedges"
	ChaosInjections      = "palisade.chaos.injections"
	LimiterLimit         = "palisade.limiter.limit"
	LimiterInflight      = "palisade.limiter.inflight"
	LimiterQueued        = "palisade.limiter.queued"
	ThrottleRejectRatio  = "palisade.throttle.reject_ratio"
	RateLimiterAvailable = "palisade.ratelimit.available"
	ConfigReloads        = "palisade.config.reloads"
	RegistryEntries      = "palisade.registry.entries"
	RegistryEvictions    = "palisade.registry.evictions"
	StoreErrors          = "palisade.store.errors"
)

// Span event names.
const (
	RejectedEvent    = "palisade.rejected"
	RetryEvent       = "palisade.retry"
	TimeoutEvent     = "palisade.timeout"
	StateChangeEvent = "palisade.breaker.state_change"
	FallbackEvent    = "palisade.fallback"
	HedgeEvent       = "palisade.hedge"
	ChaosEvent       = "palisade.chaos"
	LimitChangeEvent = "palisade.limiter.limit_change"
)

// Attribute keys.
const (
	PipelineNameKey   = attribute.Key("palisade.pipeline.name")
	PolicyNameKey     = attribute.Key("palisade.policy.name")
	PolicyTypeKey     = attribute.Key("palisade.policy.type")
	BreakerStateKey   = attribute.Key("palisade.breaker.state")
	PreviousStateKey  = attribute.Key("palisade.breaker.previous_state")
	ErrorTypeKey      = attribute.Key("error.type")
	RetryAttemptKey   = attribute.Key("palisade.retry.attempt")
	RetryDelayKey     = attribute.Key("palisade.retry.delay")
	RetryAttemptsKey  = attribute.Key("palisade.retry.attempts")
	HedgeOutcomeKey   = attribute.Key("palisade.hedge.outcome")
	HedgeAttemptKey   = attribute.Key("palisade.hedge.attempt")
	HedgeDelayKey     = attribute.Key("palisade.hedge.delay")
	ChaosKindKey      = attribute.Key("palisade.chaos.kind")
	LimiterLimitKey   = attribute.Key("palisade.limiter.limit")
	LimiterPrevKey    = attribute.Key("palisade.limiter.previous_limit")
	ConfigOutcomeKey  = attribute.Key("palisade.config.outcome")
	RegistryNameKey   = attribute.Key("palisade.registry.name")
	EvictionReasonKey = attribute.Key("palisade.registry.eviction_reason")
)

// Values of palisade.config.outcome.
const (
	ConfigOutcomeSuccess = "success"
	ConfigOutcomeFailure = "failure"
)

// Values of palisade.registry.eviction_reason.
const (
	EvictionIdle     = "idle"
	EvictionCapacity = "capacity"
	EvictionRemoved  = "removed"
)

// Policy types: the values of palisade.policy.type, each a policy package's
// name.
const (
	PolicyTypeBreaker   = "breaker"
	PolicyTypeBulkhead  = "bulkhead"
	PolicyTypeRetry     = "retry"
	PolicyTypeBudget    = "budget"
	PolicyTypeTimeout   = "timeout"
	PolicyTypeHedge     = "hedge"
	PolicyTypeFallback  = "fallback"
	PolicyTypeChaos     = "chaos"
	PolicyTypeRateLimit = "ratelimit"
	PolicyTypeLimiter   = "limiter"
	PolicyTypeThrottle  = "throttle"
	PolicyTypeRegistry  = "registry" // a full registry refusing a new key
)

// The live view's names: the span event of an action taken from the view
// (Isolate, Reset), and the attribute naming the action.
const (
	LiveActionEvent = "palisade.live.action"
	LiveActionKey   = attribute.Key("palisade.live.action")
)
