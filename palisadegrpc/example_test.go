package palisadegrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palisade-go/palisade/palisadegrpc"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// serve serves e on 127.0.0.1 with the server options opts; stop ends it.
func serve(e *echo, opts ...grpc.ServerOption) (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, e)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return lis.Addr().String(), func() { srv.Stop(); <-done }
}

// A server sheds a burst of load: a bulkhead lets 2 calls run at once and
// answers the others RESOURCE_EXHAUSTED at once, asking clients to come
// back in 50ms (the grpc-retry-pushback-ms trailer).
func Example() {
	release := make(chan struct{})
	e := &echo{unary: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		<-release // a slow handler
		return in, nil
	}}
	shed := bulkhead.Must(bulkhead.Config{MaxConcurrent: 2, Telemetry: telemetry.Disabled()})
	addr, stop := serve(e,
		grpc.ChainUnaryInterceptor(palisadegrpc.UnaryServerInterceptor(
			palisadegrpc.WithPolicy(shed),
			palisadegrpc.WithRejectionPushback(50*time.Millisecond))))
	defer stop()

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer cc.Close()

	// Two calls fill the bulkhead...
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			out := new(wrapperspb.StringValue)
			if err := cc.Invoke(context.Background(), methodUnary, wrapperspb.String("hi"), out); err != nil {
				fmt.Println("unexpected:", err)
			}
		})
	}
	for shed.InFlight() < 2 {
		time.Sleep(time.Millisecond)
	}
	// ...and the burst that follows is shed.
	for i := range 3 {
		var trailer metadata.MD
		err := cc.Invoke(context.Background(), methodUnary, wrapperspb.String("hi"), new(wrapperspb.StringValue), grpc.Trailer(&trailer))
		fmt.Printf("call %d: %v, pushback %sms\n", i+3, status.Code(err), trailer.Get(palisadegrpc.PushbackKey)[0])
	}
	close(release)
	wg.Wait()
	fmt.Println("handlers run:", e.calls.Load())
	// Output:
	// call 3: ResourceExhausted, pushback 50ms
	// call 4: ResourceExhausted, pushback 50ms
	// call 5: ResourceExhausted, pushback 50ms
	// handlers run: 2
}

// A client's breaker opens on a failing server, refuses calls without
// sending them while it is open, and closes again once a trial call
// succeeds after the break.
func Example_breaker() {
	var healthy atomic.Bool
	e := &echo{unary: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		if !healthy.Load() {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		return in, nil
	}}
	addr, stop := serve(e)
	defer stop()

	b := breaker.Must(breaker.Config{
		ConsecutiveFailures: 3,
		BreakDuration:       100 * time.Millisecond,
		SuccessThreshold:    1,
		OnStateChange:       func(from, to breaker.State) { fmt.Printf("breaker: %v → %v\n", from, to) },
		Telemetry:           telemetry.Disabled(),
	})
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
			palisadegrpc.WithPolicy(policy.NewPipeline("echo-client", b).WithTelemetry(telemetry.Disabled())))))
	if err != nil {
		panic(err)
	}
	defer cc.Close()

	call := func() {
		out := new(wrapperspb.StringValue)
		err := cc.Invoke(context.Background(), methodUnary, wrapperspb.String("hi"), out)
		if err != nil {
			fmt.Printf("%v: %s\n", status.Code(err), status.Convert(err).Message())
			return
		}
		fmt.Println("OK:", out.GetValue())
	}
	for range 4 {
		call()
	}
	fmt.Println("calls that reached the server:", e.calls.Load())

	healthy.Store(true)
	time.Sleep(150 * time.Millisecond) // the break ends
	call()
	// Output:
	// Unavailable: warming up
	// Unavailable: warming up
	// breaker: closed → open
	// Unavailable: warming up
	// Unavailable: palisade/breaker: breaker: circuit open
	// calls that reached the server: 3
	// breaker: open → half_open
	// breaker: half_open → closed
	// OK: hi
}

// Retries for idempotent methods only, honouring the server's pushback.
func ExampleWithIdempotent() {
	e := &echo{}
	e.unary = func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		if e.calls.Load() == 1 {
			_ = grpc.SetTrailer(ctx, metadata.Pairs(palisadegrpc.PushbackKey, "20"))
			return nil, status.Error(codes.Unavailable, "try again in 20ms")
		}
		return in, nil
	}
	addr, stop := serve(e)
	defer stop()

	r := retry.Must(retry.Config{
		MaxAttempts: 3,
		OnRetry: func(attempt int, err error, delay time.Duration) {
			fmt.Printf("attempt %d after %v: %v\n", attempt, delay >= 20*time.Millisecond, status.Code(err))
		},
		Telemetry: telemetry.Disabled(),
	})
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
			palisadegrpc.WithPolicy(r),
			palisadegrpc.WithIdempotent(methodUnary))))
	if err != nil {
		panic(err)
	}
	defer cc.Close()

	out := new(wrapperspb.StringValue)
	err = cc.Invoke(context.Background(), methodUnary, wrapperspb.String("hi"), out)
	fmt.Println(out.GetValue(), err)
	// Output:
	// attempt 2 after true: Unavailable
	// hi <nil>
}
