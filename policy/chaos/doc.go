// Package chaos injects faults and latency into calls, for tests and game
// days: to check, before an outage does, that timeouts fire, retries and
// breakers behave, fallbacks answer and dashboards show it — as Polly's
// chaos strategies (formerly Simmy) do.
//
// A [Chaos] policy affects a call with probability Config.Probability: it
// waits Config.Latency (if set), honouring the caller's context, and then
// returns Config.Fault instead of running the function (if set), or runs
// the function. The fault comes back as it is, so that the code handling
// it cannot tell it from the real thing.
//
// # Off by default
//
// A chaos policy can stay in production pipelines: it affects only the
// calls it is enabled for. By default, that is a call whose context was
// marked with [Enable], or whose OpenTelemetry baggage carries the member
// palisade.chaos=on ([BaggageKey]). Baggage travels with requests across
// services through OpenTelemetry's propagators, so tagging a test request
// at the edge ([EnableWithBaggage]) lets chaos follow it through every
// service it reaches, leaving all other traffic alone. Config.Enabled
// replaces that rule (a feature flag, a header, a percentage of tenants).
//
// A disabled call costs two context lookups (the mark and the baggage), a
// few nanoseconds, and allocates nothing. The random draw uses
// math/rand/v2's global source, which is lock-free.
//
// # Telemetry
//
// The counter palisade.chaos.injections counts injections by
// palisade.chaos.kind, "fault" or "latency" (a call given both counts in
// both); each adds the event palisade.chaos to the span in the caller's
// context.
package chaos
