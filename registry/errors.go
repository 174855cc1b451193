package registry

import (
	"fmt"

	"github.com/palisade-go/palisade/policy"
)

// ErrFull is returned by Get for a new key when the registry holds
// Config.MaxEntries entries and every one of them is busy (an open breaker,
// a bulkhead in use), so that none can be evicted to make room. It matches
// policy.ErrRejected: the call for that key is refused without running,
// and a breaker outside counts it neither way. Its error.type is
// "registry_full".
var ErrFull error = fullError{}

type fullError struct{}

func (fullError) Error() string {
	return "palisade/registry: full: every entry is busy, none can be evicted for a new key"
}

// Is makes ErrFull match policy.ErrRejected.
func (fullError) Is(target error) bool { return target == policy.ErrRejected }

// ErrorType returns "registry_full", the error.type of ErrFull.
func (fullError) ErrorType() string { return "registry_full" }

// BuildError is the error of Get when Config.New failed, returned nil, or
// panicked, for the key. The key is not kept: the next Get of it calls New
// again.
type BuildError struct {
	Key any   // the key whose pipeline could not be built
	Err error // New's error, or one saying what went wrong
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("palisade/registry: building the pipeline of key %v: %v", e.Key, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// ErrorType returns "registry_build".
func (e *BuildError) ErrorType() string { return "registry_build" }
