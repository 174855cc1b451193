package telemetry

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ErrorType returns the low-cardinality error.type value of err: the result
// of the first ErrorType() string method found in its chain, else the Go type
// name of err (after unwrapping fmt.Errorf wrappers), exactly as
// OpenTelemetry's semconv ErrorType helper computes it. It returns "" for a
// nil err.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	return semconv.ErrorType(err).Value.AsString()
}
