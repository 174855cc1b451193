package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

// A bulkhead without queue refuses a call at once when every slot is taken.
func Example() {
	ctx := context.Background()
	b := bulkhead.Must(bulkhead.Config{
		Name:          "users-db",
		MaxConcurrent: 1,
		Telemetry:     telemetry.Disabled(),
	})

	running := make(chan struct{})
	done := make(chan struct{})
	finished := make(chan error)
	go func() {
		finished <- b.Execute(ctx, func(context.Context) error {
			close(running)
			<-done // a slow query
			return nil
		})
	}()
	<-running

	err := b.Execute(ctx, func(context.Context) error { return nil })
	fmt.Println(err)
	fmt.Println(errors.Is(err, bulkhead.ErrFull), errors.Is(err, policy.ErrRejected))
	fmt.Println("in flight:", b.InFlight())

	close(done)
	fmt.Println(<-finished, b.InFlight())
	// Output:
	// palisade/bulkhead: users-db: bulkhead full
	// true true
	// in flight: 1
	// <nil> 0
}

// With a queue, a call waits for a slot, first come first served; MaxWait
// bounds the wait.
func Example_queue() {
	ctx := context.Background()
	b := bulkhead.Must(bulkhead.Config{
		Name:          "users-db",
		MaxConcurrent: 1,
		MaxQueue:      10,
		MaxWait:       20 * time.Millisecond,
		Telemetry:     telemetry.Disabled(),
	})

	permit, err := b.Acquire(ctx) // take the only slot
	if err != nil {
		panic(err)
	}
	start := time.Now()
	err = b.Execute(ctx, func(context.Context) error { return nil })
	fmt.Println(err)
	fmt.Println(errors.Is(err, bulkhead.ErrFull), time.Since(start) >= 20*time.Millisecond)
	permit.Release()
	// Output:
	// palisade/bulkhead: users-db: no slot freed within 20ms
	// true true
}

// Acquire takes a slot for work that cannot be wrapped in a function, such
// as a stream read by the caller after the handler returns.
func ExampleBulkhead_Acquire() {
	b := bulkhead.Must(bulkhead.Config{MaxConcurrent: 2, Telemetry: telemetry.Disabled()})

	permit, err := b.Acquire(context.Background())
	if err != nil {
		fmt.Println("busy:", err)
		return
	}
	fmt.Println("in flight:", b.InFlight())
	permit.Release()
	fmt.Println("in flight:", b.InFlight())
	// Output:
	// in flight: 1
	// in flight: 0
}
