package throttle_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

// A dependency that refuses every call: after a few, the throttle rejects
// nearly all of them itself, without sending them.
func Example() {
	th := throttle.Must(throttle.Config{Name: "search", Telemetry: telemetry.Disabled()})
	errUnavailable := errors.New("503 Service Unavailable")
	sent, throttled := 0, 0
	for range 1000 {
		err := th.Execute(context.Background(), func(context.Context) error {
			sent++
			return errUnavailable
		})
		if errors.Is(err, throttle.ErrThrottled) && errors.Is(err, policy.ErrRejected) {
			throttled++
		}
	}
	fmt.Println(sent < 50, throttled > 950, th.RejectRatio() > 0.99)
	// Output: true true true
}

// statusError is an HTTP client's error for an answer with a failing
// status.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprint("status ", e.code) }

// For an HTTP client, count 5xx and 429 answers as not accepted, and other
// failing answers (a 404) as accepted: the server did its work.
func Example_isAccepted() {
	th := throttle.Must(throttle.Config{
		IsAccepted: func(err error) bool {
			if se, ok := errors.AsType[*statusError](err); ok {
				return se.code < 500 && se.code != 429
			}
			return err == nil
		},
		Telemetry: telemetry.Disabled(),
	})
	for range 10 {
		_ = th.Execute(context.Background(), func(context.Context) error { return &statusError{404} })
	}
	fmt.Println(th.RejectRatio())
	// Output: 0
}
