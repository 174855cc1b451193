package palisadegrpc_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-go/palisade/palisadegrpc"
	"github.com/palisade-go/palisade/policy"
)

func TestClassString(t *testing.T) {
	for c, want := range map[palisadegrpc.Class]string{
		palisadegrpc.Success:   "success",
		palisadegrpc.Failure:   "failure",
		palisadegrpc.Retryable: "retryable",
		palisadegrpc.Ignored:   "ignored",
		palisadegrpc.Class(9):  "Class(9)",
	} {
		assert.Equal(t, want, c.String())
	}
}

// TestStatusErrorType: error.type is the code's canonical name.
func TestStatusErrorType(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.Unavailable:       "UNAVAILABLE",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.DeadlineExceeded:  "DEADLINE_EXCEEDED",
		codes.Canceled:          "CANCELLED",
		codes.Internal:          "INTERNAL",
		codes.Code(99):          "UNKNOWN_CODE",
	} {
		e := &echo{unary: failWith(code)}
		rec := &recorder{}
		cc := dial(t, startServer(t, e), grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
			palisadegrpc.WithPolicy(rec),
			palisadegrpc.WithClassifier(func(string, *status.Status) palisadegrpc.Class { return palisadegrpc.Failure }))))
		_, err := callUnary(t.Context(), cc)
		require.Error(t, err)
		se, ok := errors.AsType[*palisadegrpc.StatusError](rec.last())
		require.True(t, ok)
		assert.Equal(t, want, se.ErrorType())
		assert.Equal(t, code, se.Code())
	}
}

// TestNilOptions: a nil policy passes calls through; a nil classifier is
// the default one; a nil Option is skipped.
func TestNilOptions(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	rec := &recorder{}
	cc := dial(t, addr, grpc.WithChainUnaryInterceptor(
		palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(nil), nil),
		palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(rec), palisadegrpc.WithClassifier(nil))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	se, ok := errors.AsType[*palisadegrpc.StatusError](rec.last())
	require.True(t, ok)
	assert.Equal(t, palisadegrpc.Retryable, se.Class)
	var _ policy.Policy = rec
}
