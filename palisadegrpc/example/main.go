// Command example shows palisadegrpc on both sides of a gRPC service on
// 127.0.0.1:
//
//  1. a burst: the server's bulkhead lets 4 calls run at once and sheds the
//     rest with RESOURCE_EXHAUSTED and a 100ms pushback;
//  2. an outage: the server's dependency fails, the client's breaker opens
//     and refuses calls without sending them, then closes again once the
//     server has recovered.
//
// Run it with
//
//	go run ./palisadegrpc/example
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
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
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

const method = "/palisade.example.Greeter/Greet"

// greeter is the service: it takes 50ms per call, and fails with
// UNAVAILABLE while its dependency is down.
type greeter struct {
	down atomic.Bool
}

var greeterDesc = grpc.ServiceDesc{
	ServiceName: "palisade.example.Greeter",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Greet",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(*greeter).greet(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, h)
		},
	}},
}

func (g *greeter) greet(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if g.down.Load() {
		return nil, status.Error(codes.Unavailable, "database unreachable")
	}
	return wrapperspb.String("hello, " + in.GetValue()), nil
}

func run(w io.Writer) error {
	off := telemetry.Disabled() // a real service would keep the default: the global OTel providers

	// The server: a bulkhead sheds what it cannot run at once.
	shed := bulkhead.Must(bulkhead.Config{Name: "greeter", MaxConcurrent: 4, Telemetry: off})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := &greeter{}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(palisadegrpc.UnaryServerInterceptor(
		palisadegrpc.WithPolicy(shed),
		palisadegrpc.WithRejectionPushback(100*time.Millisecond))))
	srv.RegisterService(&greeterDesc, g)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	// The client: a breaker that opens after 3 failures in a row, for
	// 300ms, in front of a 1s timeout.
	b := breaker.Must(breaker.Config{
		Name:                "greeter",
		ConsecutiveFailures: 3,
		BreakDuration:       300 * time.Millisecond,
		SuccessThreshold:    1,
		OnStateChange: func(from, to breaker.State) {
			fmt.Fprintf(w, "  client breaker: %v → %v\n", from, to)
		},
		Telemetry: off,
	})
	pipeline := policy.NewPipeline("greeter-client", b,
		timeout.Must(timeout.Config{Duration: time.Second, Telemetry: off})).WithTelemetry(off)
	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(pipeline))))
	if err != nil {
		return err
	}
	defer cc.Close()
	// Plain clients, for the burst: the palisade client's breaker would
	// (rightly) open on so many RESOURCE_EXHAUSTED answers.
	plain, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer plain.Close()
	call := func(cc *grpc.ClientConn, trailer *metadata.MD) error {
		return cc.Invoke(context.Background(), method, wrapperspb.String("gopher"), new(wrapperspb.StringValue), grpc.Trailer(trailer))
	}
	greet := func(trailer *metadata.MD) error { return call(cc, trailer) }

	fmt.Fprintln(w, "1. a burst of 20 calls at once against a server running 4 at a time")
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		wg       sync.WaitGroup
	)
	for range 20 {
		wg.Go(func() {
			var trailer metadata.MD
			err := call(plain, &trailer)
			key := status.Code(err).String()
			if pb := trailer.Get(palisadegrpc.PushbackKey); len(pb) > 0 {
				key += ", pushback " + pb[0] + "ms"
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, key := range []string{"OK", "ResourceExhausted, pushback 100ms"} {
		fmt.Fprintf(w, "  %-34s %d\n", key+":", outcomes[key])
		delete(outcomes, key)
	}
	for key, n := range outcomes {
		fmt.Fprintf(w, "  %-34s %d\n", key+":", n)
	}

	fmt.Fprintln(w, "2. the server's database goes down")
	g.down.Store(true)
	for i := range 5 {
		var trailer metadata.MD
		err := greet(&trailer)
		fmt.Fprintf(w, "  call %d: %v: %s\n", i+1, status.Code(err), status.Convert(err).Message())
	}
	fmt.Fprintln(w, "3. the database is back; the break ends")
	g.down.Store(false)
	time.Sleep(350 * time.Millisecond)
	var trailer metadata.MD
	if err := greet(&trailer); err != nil {
		return fmt.Errorf("call after recovery: %w", err)
	}
	fmt.Fprintf(w, "  call 6: OK, breaker %v\n", b.State())
	return nil
}
