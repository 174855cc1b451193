package breaker

import (
	"strconv"

	"github.com/palisade-go/palisade/internal/report"
)

// State is the state of a [Breaker].
type State int32

// The states of a breaker. Their String values are the
// palisade.breaker.state attribute values.
const (
	// Closed lets every call run and records its outcome in the window.
	Closed State = iota
	// Open rejects every call until the break has passed.
	Open
	// HalfOpen lets HalfOpenCalls trial calls run at a time; their outcomes
	// close the breaker or open it again.
	HalfOpen
	// Isolated rejects every call until Reset; only Isolate enters it.
	Isolated
)

// stateNames are the String values of the states, indexed by State; they
// number the states for the telemetry reporter.
var stateNames = []string{"closed", "open", "half_open", "isolated"}

// String returns "closed", "open", "half_open" or "isolated".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// transitions are the state changes a breaker can make, whose
// palisade.breaker.transitions series exist from the breaker's construction.
var reportedTransitions = []report.Transition{
	{From: int(Closed), To: int(Open)},
	{From: int(Open), To: int(HalfOpen)},
	{From: int(HalfOpen), To: int(Open)},
	{From: int(HalfOpen), To: int(Closed)},
	{From: int(Open), To: int(Closed)}, // Reset
	{From: int(Isolated), To: int(Closed)},
	{From: int(Closed), To: int(Isolated)},
	{From: int(Open), To: int(Isolated)},
	{From: int(HalfOpen), To: int(Isolated)},
}
