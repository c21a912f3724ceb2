// Package remote carries Workers service bindings across processes and
// machines, on connect-go: when a worker moves out of its caller's process,
// its callers do not change. The serving process mounts [NewHandler] on an
// HTTP server; the calling process registers the worker by name with
// [Register], and every binding to it (Env.Service, Registry.Bind,
// workers.Call, generated typed clients, Binding.Fetch) goes over the
// network with the same semantics as in-process.
//
// # Serving
//
// [NewHandler] serves every worker of a registry, with its default and
// named entrypoints, and returns the path to mount it on:
//
//	reg := workers.NewRegistry()
//	reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()})
//
//	mux := http.NewServeMux()
//	mux.Handle(remote.NewHandler(reg,
//		remote.AllowToken(os.Getenv("WORKER_A_TOKEN"), remote.Allow{Service: "worker_b"}),
//	))
//	srv := &http.Server{
//		Addr:              ":8787",
//		Handler:           mux,
//		ReadHeaderTimeout: 10 * time.Second,
//		ReadTimeout:       time.Minute, // time enough for a 32 MiB call message
//		WriteTimeout:      time.Minute,
//		IdleTimeout:       2 * time.Minute,
//		Protocols:         new(http.Protocols),
//	}
//	srv.Protocols.SetHTTP1(true)
//	srv.Protocols.SetUnencryptedHTTP2(true) // h2c, for a private network
//	srv.ListenAndServe()                    // or ListenAndServeTLS
//
// Give the server all four timeouts: they bound what a peer may hold before
// it is authenticated and allowed, so that slow or stalled clients cannot
// pile up connections. A request refused for its credentials is answered
// from its headers, without waiting for its body. Once a request is
// allowed, the handler lifts ReadTimeout and WriteTimeout for it (through
// http.ResponseController) to the caller's deadline, plus a grace period
// for the answer, or for as long as it takes when the caller set none: a
// long call, or a Fetch whose bodies stream for minutes, is not cut short.
//
// RPC calls are one connect unary procedure ([CallProcedure]), so connect,
// gRPC and gRPC-Web clients can make them; a [Transport] makes them through
// a session ([SessionProcedure], see References across processes); Fetch is plain HTTP proxied under
// [FetchPath], both bodies streamed. Serve HTTP/2: over TLS, or unencrypted
// (h2c) on a private network, as above; a [Transport] speaks HTTP/2 only, so
// that calls share a connection and Fetch bodies stream both ways at once.
//
// # Calling
//
//	reg := workers.NewRegistry()
//	remote.Register(reg, "worker_b", "http://worker-b:8787", remote.WithBearerToken(token))
//	reg.Register("worker_a", workers.Worker{
//		Default:  workers.New[WorkerA](),
//		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
//	})
//	// worker_a's code is unchanged:
//	sum, err := workers.Call[int](w.Ctx, w.Env.Service("WORKER_B"), "Add", 1, 2)
//
// A config loader makes the same registration from a service entry with an
// address, through the function [Dialer] returns:
//
//	[[services]]
//	binding = "WORKER_B"
//	service = "worker_b"
//	address = "http://worker-b.default.svc.cluster.local:8787"
//
// The name a worker is registered under is the name it is called by on the
// serving side. A handler serves the workers its registry runs; a worker
// registered there as remote is not served onward, by RPC or by Fetch
// (workers.ErrServiceNotFound, 404), so that no peer reaches a third
// process with the serving process's credential and props of its own.
//
// # What a call keeps
//
//   - Arguments are encoded as CBOR (see [Codec]) and decoded on the serving
//     side straight into the method's parameter types, then converted as an
//     in-process call converts them: 21 reaches an int64 parameter, 1.5
//     does not reach an int one, and the error names the argument and both
//     types. They cross by copy, as in-process.
//   - Results are decoded into the type the caller asks for (workers.Call[R],
//     generated clients). Binding.Call, which asks for none, gets
//     predeclared types (int, string, []byte, time.Time, ...) as they were
//     sent and other values JSON-like: map[string]any, []any, int64.
//   - Errors keep their identity only where both sides know them by name.
//     Every workers.Err* sentinel, context.Canceled and
//     context.DeadlineExceeded match errors.Is on the caller. A package's
//     own sentinels and error types do so only when both the calling and the
//     serving program name them: pass the same [WithErrors] list, declared
//     once beside the errors, to [NewHandler] and to [Register] (or
//     [Dialer]), or register them for the whole process on both sides
//     ([RegisterSentinel], [RegisterError]). Any other error, and any error
//     named on one side only, arrives with its message alone: errors.Is and
//     errors.As do not find it. A panic arrives as a *workers.PanicError
//     whose Value is the panic's text, without the callee's stack.
//   - The caller's deadline travels with the call and cancellation travels
//     back: when the caller goes away, the callee's context is canceled.
//   - Props travel with the call and arrive JSON-like, as props from a
//     wrangler file do: read them with workers.PropsAs.
//   - The depth limit spans processes: a chain of 32 invocations succeeds
//     wherever they run, the 33rd fails with workers.ErrDepthExceeded.
//   - Call metadata ([WithMetadata], [Metadata]) carries W3C trace context
//     and the like to the callee, and on through its own calls.
//   - WaitUntil tasks run on the serving side; its registry's Close drains
//     them.
//
// # What changes when a binding goes remote
//
//   - Failure: a worker that cannot be reached (refused, killed mid-call,
//     not serving where it was said to be) fails the call with
//     workers.ErrUnavailable, as soon as the connection says so. A call may
//     have run even so: make effects idempotent where that matters.
//   - Values that live in one process cross by reference (see References
//     across processes): RpcTargets, *workers.Stub, funcs (callbacks) and
//     *workers.Binding. Channels and contexts cannot cross:
//     workers.ErrInvalidArgument, naming the argument. ctx values do not
//     cross; metadata does.
//   - Arguments, props and results are limited to 32 MiB each way
//     ([MaxMessageBytes]), with Workers' message: "Serialized RPC arguments
//     or return values are limited to 32MiB, but the size of this value was:
//     N bytes."
//   - The serving side decodes a call only as far as it must: the service,
//     entrypoint and method are checked against the caller's credential
//     before any argument or props are decoded; a call has at most 65,536
//     arguments and 1,024 metadata pairs; an array or a map that does not
//     fit its parameter's type is refused without being decoded anyhow
//     (workers.ErrInvalidArgument, naming the argument); and the arguments
//     and props together may take, decoded, at most 8 times their serialized
//     size plus 64 MiB, as the handler reckons from the CBOR and the
//     parameter types before decoding. Values decoded into concrete types
//     rarely come near; JSON-like values into an interface (a list of small
//     maps takes some 40 times its size) do beyond a few MiB.
//   - Unexported struct fields are not sent (CBOR, like JSON, sees only
//     exported ones).
//   - A call costs a network round trip: one message each way on the open
//     session, which on loopback costs less than a bare connect-go unary
//     call (see BenchmarkRemote in bench/).
//
// What does not change: the code of the callers and of the workers, the
// bindings, the names, props, named entrypoints as permission boundaries,
// and the errors, once both sides name them (above).
//
// To find what would change before deploying, run the tests with
// [Serialize]: every in-process call then crosses this encoding, so a value
// that could not cross fails the unit test (package workerstest's
// Serialized option and Run).
//
// # Interceptors and logs
//
// The serving registry's interceptors (workers.WithInterceptors) see the
// calls and fetches the handler serves, with their props and depth, and may
// refuse them; the calling registry's see each call as Remote. The handler
// logs the requests it refuses (401, 403) to the serving registry's logger.
//
// # References across processes
//
// A [Transport] makes its calls through a session: one bidirectional
// connect stream ([SessionProcedure]) over the HTTP/2 connection, opened by
// the first call and authenticated as a unary call is, which carries calls
// both ways with their results. Over it, what crosses by reference
// in-process crosses by reference between processes, in both directions:
//
//   - An RpcTarget a remote method returns (or receives) reaches the other
//     side as a *workers.Stub; its calls run on that one object, in the
//     process that made it. Stubs can be passed back, or on to a third
//     worker, whose calls reach the original object.
//   - A func passed as an argument reaches the callee as a func of the
//     parameter's type that calls back into the caller's process. When the
//     call back fails (the caller is gone, the reference released) the func
//     returns the error as its error result or, without one, panics with it,
//     which the runtime turns into the callee's error: never a silent zero.
//     Received into any (or a *workers.Stub), a func is a stub called with
//     the method name "".
//   - A *workers.Binding crosses as a binding, as a service stub does in
//     Workers: a parameter or result declared *workers.Binding (or
//     workers.Caller, or any, as in-process) gets a *workers.Binding whose
//     calls (Call, workers.Call, generated typed clients, workers.Pipe,
//     which falls back to a call) run the peer's binding in the peer's
//     process; it carries no Fetch (workers.ErrNoFetchHandler). Declared
//     *workers.Stub, it is a stub, which can be Dup'ed to keep it. Calls
//     through a binding the server handed out are held to the caller's
//     Allow rules, as its direct calls are; a binding the server got from a
//     third process and hands on reaches that process, which holds its own
//     callers to its rules.
//
// References cross at the top level of an argument or result, and inside
// values of interface type (a field, element or map value of type any); a
// reference in a field of a concrete type is an error that says so.
//
// Lifetimes follow workers.Stub: Close releases a reference and, with the
// last, the peer releases its object (Dispose runs there); references an
// invocation receives are released when it ends, those a method receives
// when it returns (so a callback kept past its call fails with
// workers.ErrDisposed; keep a *workers.Stub and Dup it instead). A peer's
// *workers.Binding follows the same rules; one received outside any
// invocation has no Close and is released with its session (declare
// *workers.Stub to release it sooner). When a
// session ends (Transport.Close, Registry.Close, a broken connection, the
// peer's process killed) every reference either side held is released,
// their Dispose hooks run, and calls in flight fail with
// workers.ErrUnavailable; the stubs of the ended session fail with
// workers.ErrDisposed at once. A Transport closes a session that holds
// nothing after a second idle, so the server can shut down; the next call
// opens another.
//
// A reference id means something only in the session that received it:
// another session, of whatever credential, that names it reaches nothing
// (workers.ErrDisposed). Each session holds at most [DefaultSessionRefs]
// references of the peer's and has at most [DefaultSessionCalls] calls in
// flight each way; [WithSessionLimits] changes both, and what would pass
// them fails with [ErrSessionLimit]. Plain connect, gRPC and gRPC-Web
// clients keep calling the unary procedure, which refuses references with
// a clear error; so does a Transport whose handler or protocol carries no
// sessions (HTTP/1.1, an older handler).
//
// # Durable Objects
//
// A Durable Object namespace is hosted by one serving process: the one
// whose registry registers the class (Worker.DurableObjects) and serves it
// with [NewHandler]. A calling process registers that worker with
// [Register] and binds the namespace with its name as script_name
// (workers.DurableObjectBinding.ScriptName); its IDs, stubs and calls then
// work as in-process, and every caller, through any Transport or
// credential, reaches the one object of an ID, its calls serialized with
// everyone's. The calls travel on the session (a call frame naming class
// and ID instead of an entrypoint), never as unary calls, so that what they
// pass and return crosses by reference as in any other session call; a
// Transport whose handler carries no sessions (HTTP/1.1, an older handler)
// fails them with workers.ErrUnavailable. The handler checks the ID (a
// malformed one, or one of another namespace, is workers.ErrInvalidArgument)
// and the credential: only a rule with [Allow].Class names objects,
//
//	remote.AllowToken(token, remote.Allow{Service: "counter", Class: "Counter", Methods: []string{"Get"}})
//
// and no entrypoint rule reaches one. Run one host per namespace: replicas
// would each run their own instance of an ID (see the README for what
// sharding would need). A call chain that leaves the host and comes back to
// an object it is in (object A, a worker in another process, A again) runs
// inside the call in progress, as in-process: a call made inside a Durable
// Object call carries a token of it (given only when a call leaves the
// process) under the reserved metadata key "workers-turns", which
// [WithMetadata] does not set; the serving side drops malformed tokens,
// keeps at most 16, passes them on in the calls it makes, and runs a call
// whose tokens name the object's current call inside it. The tokens are
// unguessable (a random nonce per process and a counter) but no security
// boundary: a peer that guessed one could only make its call run inside a
// call in progress, not reach anything its credential does not allow.
//
// # Promise pipelining
//
// Over a session, workers.Pipe only sends its call and returns at once, for
// a binding of a remote worker, a stub of a remote object and a stub that
// Pipe returned alike; calls and Pipes on its stub are sent right behind
// it, naming the call they are made on by its ID, as Cap'n Web does. The
// serving side keeps the result of a piped call under that ID and runs the
// calls piped on it once it is there, so a chain of dependent calls costs
// one round trip:
//
//	counter := workers.Pipe(ctx, b, "MakeCounter", 12)
//	defer counter.Close()
//	n, err := workers.Call[int](ctx, counter, "Increment", 3) // one round trip
//
// Through a proxy that adds 100 ms each way (a 200 ms round trip), three
// dependent calls take about 205 ms piped and 620 ms one after another
// (TestRemotePipeRoundTrips). On loopback, where a round trip costs about
// what the two ends spend on the messages, pipelining saves little (see
// BenchmarkRemotePipe in bench/): pipe where calls cross a real network.
//
// What a piped call keeps: workers.Await decodes its result into the type
// asked for, as workers.Call does; if it fails, every call piped on it
// fails with an error that wraps its error (errors.Is finds the same
// sentinels and registered errors as for the call itself) and nothing runs
// on the result; a result that is no reference (an int) fails the calls on
// it with workers.ErrMethodNotFound naming its type. Canceling the ctx
// given to Pipe cancels the call where it runs, and its deadline travels.
// Closing the piped stub releases the result, at once or when it arrives.
// The serving side runs a piped call only as the caller's credential could
// make it directly: the first call is held to its Allow rules, and so is a
// call piped on a binding. Call IDs are per session: another session
// cannot name them. Each side keeps at most [DefaultSessionPipes] results
// for its peer's piped calls, and runs as many calls piped on them;
// [WithPipeLimit] changes both, and a piped call past it fails with
// [ErrSessionLimit], as do the calls piped on it. Without a session
// (unary calls, HTTP/1.1), Pipe makes a plain call.
//
// # Security
//
// Named entrypoints stay permission boundaries: a peer reaches only the
// service, entrypoint and methods its credential allows ([Allow]), whatever
// request it crafts. Credentials are bearer tokens ([AllowToken],
// [WithBearerToken]) and TLS client certificates ([AllowCertificate],
// [WithTLSConfig]). A request without a known credential gets 401
// ([ErrUnauthenticated]), one beyond its credential 403
// ([ErrPermissionDenied]); neither reaches a worker, and neither is told
// whether what it asked for exists. Props are trusted as they are in Workers
// (they identify the caller), so only authenticated peers may send them: a
// handler given no credential refuses every request, unless
// [InsecureAllowAll] says that the network itself admits only trusted
// callers. Malformed requests (bad CBOR, lengths beyond the data, messages
// over the limit) get 4xx and reach no worker.
//
// # Deploying workers as separate services
//
// Run each worker, or each group of workers that belong together, as its
// own program: a registry with those workers, served by [NewHandler] on a
// port. On Kubernetes, give each its own Deployment and Service, and address
// it by the Service's DNS name in the callers' config:
//
//	worker_a's wrangler.toml
//	[[services]]
//	binding = "WORKER_B"
//	service = "worker_b"
//	address = "http://worker-b.workers.svc.cluster.local:8787"
//
// The Service balances connections, not calls, and a Transport multiplexes
// its calls on few HTTP/2 connections: for even load over many replicas,
// use a headless Service with several callers, or an HTTP/2-aware proxy or
// mesh in between.
// Within a cluster, h2c with a bearer token per caller, its secret mounted
// from a Kubernetes Secret, is simple; across networks, or where the
// network is not trusted, serve TLS and prefer client certificates (a
// service mesh's mTLS identities, such as SPIFFE IDs, work with
// [AllowCertificate]). Give the serving program a graceful shutdown: stop
// the HTTP server, then Close the registry so that WaitUntil tasks finish.
//
// # Wire
//
// [CallRequest] and [CallResponse] are the messages of [CallProcedure], in
// CBOR; a failed call is a connect error whose code follows its first
// sentinel (NotFound for a missing service, entrypoint or method,
// InvalidArgument, PermissionDenied, Unauthenticated, Unavailable for a
// closed registry, ...) and whose metadata holds the [WireError]. A Fetch is
// the caller's request, sent to [FetchPath] with the target, props, depth,
// metadata and deadline in Workers-Remote-* headers.
package remote
