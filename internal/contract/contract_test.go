package contract

import "testing"

func TestNilFuncNamesThePackageAndTheContract(t *testing.T) {
	if got := NilFunc("retry"); got != "palisade/retry: Execute called with a nil policy.Func" {
		t.Fatalf("got %q", got)
	}
}
