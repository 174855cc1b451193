package registry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The runtime's own goroutine running cleanups (runtime.AddCleanup) may
// still be busy when the tests end: TestIdleEntriesFitTheMemoryBudget
// leaves 200,000 policies to be collected, each with the live view's
// cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("runtime.runCleanups"))
}
