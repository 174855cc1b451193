// Package palisadegrpc runs gRPC calls through palisade policies, on the
// client and on the server.
//
// On the client, [UnaryClientInterceptor] and [StreamClientInterceptor] run
// each call through a [policy.Policy], typically a pipeline such as retry →
// breaker → timeout → bulkhead:
//
//	cc, err := grpc.NewClient(target,
//		grpc.WithChainUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
//			palisadegrpc.WithPolicy(pipeline),
//			palisadegrpc.WithIdempotent("/shop.Catalog/GetItem"))),
//		grpc.WithChainStreamInterceptor(palisadegrpc.StreamClientInterceptor(
//			palisadegrpc.WithPolicy(pipeline))))
//
// On the server, [UnaryServerInterceptor] and [StreamServerInterceptor] run
// each handler through a policy — a bulkhead or a rate limiter that sheds
// load, a breaker around the server's own dependency — and answer its
// rejections in gRPC's terms.
//
// # What the client's policy is told
//
// Each attempt's outcome is classified ([Class]) by the status it ended
// with, by [DefaultClassifier] unless [WithClassifier] says otherwise:
//
//   - UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, and DEADLINE_EXCEEDED when
//     the deadline was not the caller's (a timeout policy's, or one the
//     server ran into): [Retryable] failures. The policy sees a
//     *[StatusError]: a breaker counts a failure, a retry may try again.
//   - INTERNAL, UNKNOWN, DATA_LOSS: [Failure]s, counted but never retried:
//     a sick server answers them, but the same request is likely to meet
//     the same bug, and UNKNOWN (grpc-go's answer to any plain Go error of
//     a handler) may come after part of the work was done.
//   - CANCELLED while the caller's context is alive (the client closed its
//     connection, a handler gave up): [Ignored], as below.
//   - OK and every other code — INVALID_ARGUMENT, NOT_FOUND,
//     PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION,
//     ALREADY_EXISTS, OUT_OF_RANGE, UNIMPLEMENTED…: [Success]. The server
//     did its job, and asking again will not change its answer. The
//     policy sees nil: a breaker counts a success, a retry stops, and no
//     breaker configuration is needed for these to leave it alone.
//   - A call that ended because the caller's own context did (cancelled,
//     or its deadline passed, possibly noticed first by the server it was
//     propagated to): [Ignored], whatever the classifier. The policy sees
//     a *StatusError, never retried (backoff.Permanent), matching the
//     context's error with errors.Is: a breaker ignores the caller's
//     cancellation by itself, and its expired deadline too when given
//     [IsIgnored] as breaker.Config.IsIgnored. (A caller's deadline is the caller's
//     budget, often the remains of one propagated from further up: it
//     says nothing of this server. Put a timeout policy, shorter than
//     callers' deadlines, in the pipeline for a hanging server to show as
//     failures.)
//
// # What the caller gets
//
// The caller of an RPC gets the server's status error exactly as grpc-go
// returned it whenever the policy ends the call with the last attempt's
// outcome: a Success, a Failure or Retryable failure the policy gave up on
// at once. When a policy wrapped the server's error (retries exhausted, a
// timeout) or refused the call with an error of its own (an open breaker,
// a full bulkhead), the caller gets an *[Error], whose GRPCStatus makes
// status.Code and status.Convert work as for any RPC error — the server's
// status when there is one; else UNAVAILABLE for an open breaker,
// RESOURCE_EXHAUSTED for another rejection, CANCELLED or DEADLINE_EXCEEDED
// for a context — while errors.Is(err, retry.ErrExhausted),
// errors.Is(err, breaker.ErrOpen) and policy.RetryAfter see the policy's
// error.
//
// # Retries and idempotency
//
// A call may be sent more than once only if it is safe to: a Retryable
// failure is retried only for methods marked by [WithIdempotent] or
// [WithIdempotentFunc] — such as WithIdempotentFunc([IdempotentByProto]),
// for the methods whose proto definition declares an idempotency_level of
// NO_SIDE_EFFECTS or IDEMPOTENT. For any other method it reaches the
// policy wrapped by backoff.Permanent, and a retry policy ends the call
// with it at once, as it does for every Failure; the breaker still counts
// it.
//
// Do not stack palisade's retries on grpc-go's own. A service config with
// a retryPolicy makes grpc-go retry inside each of palisade's attempts,
// multiplying the attempts a failing server receives (3 × 3 = 9). The
// client interceptors check the channel's service config: when it gives
// the method a retryPolicy, palisade does not retry that method's
// failures, whatever WithIdempotent says. (A channel dialled with
// grpc.WithDisableRetry should then carry no retryPolicy either, or the
// method is retried by no one.)
//
// # Server pushback
//
// A server may send the trailer grpc-retry-pushback-ms ([PushbackKey]) with
// a failure (gRFC A6). One non-negative integer is a wait, in
// milliseconds: the *StatusError's RetryAfter, which a retry policy waits
// at least (or gives up at once if it exceeds its MaxRetryAfter). A
// negative or malformed value, or several values, ask the client not to
// retry: the failure reaches the policy wrapped by backoff.Permanent.
//
// # Streams
//
// A stream's policy covers its creation and its first response: the
// stream's headers, or, for a stream that ends without any, its status
// (a Trailers-Only answer, such as a server's rejection). The policy runs
// on a goroutine of its own from the stream's creation until then, while
// the caller sends and receives as usual:
//
//   - a retry retries only the creation of the stream (no connection:
//     UNAVAILABLE at once), before the caller has it; once the caller has
//     the stream it may have sent and received messages, and the stream is
//     never retried, whatever fails;
//   - a breaker counts one outcome per stream, that of its first response:
//     a stream whose headers came is a success, however it ends later; a
//     stream refused by the server is a failure. A long-lived stream
//     broken after it started (a server going away) is not counted: such
//     failures show on the next streams' creation;
//   - a bulkhead counts the stream in flight until its first response;
//   - a timeout policy bounds the wait for the first response, not the
//     stream's life, which only the caller's context bounds. When it fires,
//     the stream ends with DEADLINE_EXCEEDED.
//
// On the server, a stream's policy covers the handler, for the stream's
// whole life: a bulkhead bounds the streams open at once.
//
// # The server's answers
//
// The server interceptors answer a rejection by the policy (an error
// matching policy.ErrRejected: a full bulkhead, a rate limiter) with
// RESOURCE_EXHAUSTED, and an open breaker (breaker.ErrOpen, protecting the
// server's own dependency) with UNAVAILABLE. When the rejection carries a
// hint (policy.RetryAfter: the break's remaining time, a rate limiter's
// next permit) it goes to the client as the grpc-retry-pushback-ms trailer;
// a rejection without a hint carries the pushback of
// [WithRejectionPushback], if set. A call whose context ends while it
// waits in a bulkhead's queue is answered CANCELLED or DEADLINE_EXCEEDED.
// The handler's own errors pass through unchanged, as do other policy
// errors (grpc-go answers the status they wrap, if any).
//
// A server's policy sees the handler's errors as they are: a breaker there
// would count a NOT_FOUND as a failure. Give it [IsFailure]
// (breaker.Config{IsFailure: palisadegrpc.IsFailure}) to judge them by the
// client's default rules.
//
// A panicking handler is not recovered: the policies release what they
// hold (a bulkhead's slot, a breaker's trial permit) and count a failure,
// and the panic goes on, as it would without palisade. Recover panics in
// an interceptor of your own, outside palisade's, if the server must
// survive them.
//
// # Tracing
//
// On the client, interceptors run before a stats handler sees the call:
// otelgrpc's client span starts inside each attempt's context. On the
// server, they run after it: the handler's policy runs inside otelgrpc's
// server span. With otelgrpc.NewClientHandler and NewServerHandler the
// spans nest as (as tested)
//
//	caller's span
//	└── pipeline span (palisade.retry, palisade.rejected… events)
//	    ├── otelgrpc client span, attempt 1
//	    └── otelgrpc client span, attempt 2
//	        └── otelgrpc server span (with a propagator)
//	            └── the server's pipeline span
//
// palisade's events land on the span in the policy's context: the
// pipeline's span, or, for a policy used alone, the caller's (on a server,
// otelgrpc's server span). A stream's pipeline span ends at its first
// response; otelgrpc's client span lasts the stream's life.
//
// # Limits
//
// Hedging: a policy that declares policy.ConcurrentAttempts (policy/hedge,
// an abandoning timeout) runs each attempt of an idempotent method with a
// reply message of its own, and the first successful attempt's reply is
// copied into the caller's when the call returns; an attempt ending later
// changes nothing. A method not marked idempotent is never hedged
// (hedge.Disable): it is sent once at a time. A policy that starts
// overlapping attempts without declaring them, or a reply that is not a
// proto.Message, gets [ErrOverlappingAttempts] for the second attempt, as
// both would fill the same reply message.
//
// For a client-streaming call, whose server usually answers once, at the
// end, the first response is that answer: the stream's policy covers the
// whole upload.
package palisadegrpc
