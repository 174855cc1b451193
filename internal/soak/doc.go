// Package soak holds palisade's soak test, and nothing else: a test that
// runs 64 goroutines calling a four-policy pipeline — retry → breaker →
// timeout → bulkhead — against a loopback HTTP server that injects errors,
// latency, outages and connection resets, and checks that every call ends
// in exactly one outcome, that the OpenTelemetry counters agree with the
// test's own tally, and that goroutines and memory return to where they
// started.
//
// It is skipped under -short. It runs for PALISADE_SOAK_DURATION (a
// time.ParseDuration string), by default 45s when CI=true and 10s
// otherwise:
//
//	go test -race -run Soak -v ./internal/soak/
//	PALISADE_SOAK_DURATION=2m go test -run Soak -v ./internal/soak/
package soak
