package telemetry

import "go.opentelemetry.io/otel/attribute"

// Instrument names.
const (
	pipelineDurationName    = "palisade.pipeline.duration"
	breakerStatusName       = "palisade.breaker.status"
	breakerTransitionsName  = "palisade.breaker.transitions"
	breakerFailureRatioName = "palisade.breaker.failure_ratio"
	rejectedCallsName       = "palisade.rejected_calls"
	retryRetriesName        = "palisade.retry.retries"
	timeoutTimeoutsName     = "palisade.timeout.timeouts"
	bulkheadUsageName       = "palisade.bulkhead.usage"
	bulkheadLimitName       = "palisade.bulkhead.limit"
	bulkheadQueuedName      = "palisade.bulkhead.queued"
)

// Span event names.
const (
	rejectedEventName    = "palisade.rejected"
	retryEventName       = "palisade.retry"
	timeoutEventName     = "palisade.timeout"
	stateChangeEventName = "palisade.breaker.state_change"
)

// Attribute keys.
const (
	pipelineNameKey  = attribute.Key("palisade.pipeline.name")
	policyNameKey    = attribute.Key("palisade.policy.name")
	policyTypeKey    = attribute.Key("palisade.policy.type")
	breakerStateKey  = attribute.Key("palisade.breaker.state")
	previousStateKey = attribute.Key("palisade.breaker.previous_state")
	errorTypeKey     = attribute.Key("error.type")
	retryAttemptKey  = attribute.Key("palisade.retry.attempt")
	retryDelayKey    = attribute.Key("palisade.retry.delay")
	retryAttemptsKey = attribute.Key("palisade.retry.attempts")
)

// Policy types, the values of palisade.policy.type.
const (
	PolicyTypeBreaker  = "breaker"
	PolicyTypeBulkhead = "bulkhead"
	PolicyTypeRetry    = "retry"
)
