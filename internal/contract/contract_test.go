package contract

import "testing"

func TestNilFuncNamesThePackageAndTheContract(t *testing.T) {
	defer func() {
		if got := recover(); got != "palisade/retry: Execute called with a nil policy.Func" {
			t.Fatalf("panicked with %v", got)
		}
	}()
	NilFunc("retry")
}
