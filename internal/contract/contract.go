// Package contract holds the panics with which palisade's policies report
// a caller breaking their contract: messages that name the contract, rather
// than a bare nil dereference deep inside a policy.
package contract

// NilFunc panics for a policy's Execute given a nil function; pkg is the
// policy's package name. It is kept out of line so that the check costs the
// caller's hot path one comparison and nothing of its frame.
//
//go:noinline
func NilFunc(pkg string) {
	panic("palisade/" + pkg + ": Execute called with a nil policy.Func")
}
