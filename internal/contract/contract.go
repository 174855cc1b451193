// Package contract holds the panics with which palisade's policies report
// a caller breaking their contract: messages that name the contract, rather
// than a bare nil dereference deep inside a policy.
package contract

// NilFunc returns the value a policy's Execute panics with when given a nil
// function, pkg being the policy's package name:
//
//	if fn == nil {
//		panic(contract.NilFunc("retry"))
//	}
//
// The panic stays in the caller, so that the compiler lays the check out as
// an unlikely branch; building the message is kept out of line, so that the
// check costs the hot path one comparison.
//
//go:noinline
func NilFunc(pkg string) string {
	return "palisade/" + pkg + ": Execute called with a nil policy.Func"
}
