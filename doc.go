// Package workers brings the Cloudflare Workers service-binding model into
// Go programs: workers call each other's methods by name through bindings,
// each call running on a fresh instance, with the semantics of Workers RPC.
//
// # Writing a worker
//
// A worker type embeds [Entrypoint], as a Workers class extends
// WorkerEntrypoint. Its exported methods are its RPC methods; Fetch, when
// present, is its HTTP handler:
//
//	type WorkerB struct{ workers.Entrypoint }
//
//	func (w *WorkerB) Add(a, b int) int { return a + b }
//
//	func (w *WorkerB) Fetch(r *http.Request) (*http.Response, error) {
//		return workers.NewResponse(200, "Hello from Worker B"), nil
//	}
//
// The runtime makes a new instance for every invocation and fills its Env
// (the worker's bindings: vars, service bindings, databases) and Ctx (the
// invocation: its context, [Ctx.WaitUntil], [Ctx.Props]). Nothing persists
// between invocations; state belongs in a binding such as a D1 database.
//
// A method may take a [context.Context] first, any parameters after it
// (variadic too), and return (), (T), (error) or (T, error). Methods promoted
// from the worker's own embedded types are callable; nothing promoted from
// Entrypoint is, and Fetch is reserved for HTTP ([ErrReservedMethod]).
// Scheduled(ctx, [ScheduledEvent]) error is reserved too: it is the cron
// handler, which the registry runs for each of the worker's [Worker.Crons]
// (a config's [triggers] crons) and [Registry.Scheduled] runs by hand.
//
// # Registering and calling
//
// A [Registry] maps service names to workers. [Worker] describes one: its
// default entrypoint, its named entrypoints (each a permission boundary: a
// binding to one cannot reach another's methods), its vars and bindings.
// Method tables are built once, at [Registry.Register].
//
//	reg := workers.NewRegistry()
//	reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()})
//	reg.Register("worker_a", workers.Worker{
//		Default:  workers.New[WorkerA](),
//		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
//	})
//
// Inside worker_a, w.Env.Service("WORKER_B") is a *[Binding]; outside any
// worker, [Registry.Bind] makes one. [Binding.Call] calls by name and
// [Call] adds the result type:
//
//	sum, err := workers.Call[int](ctx, w.Env.Service("WORKER_B"), "Add", 1, 2)
//
// [Binding.Fetch] sends an *http.Request to the worker's Fetch; a Binding is
// also an [http.RoundTripper] and an [http.Handler].
//
// # Semantics
//
// Calls behave as Workers RPC does, in Go terms:
//
//   - Arguments convert to the parameter types when assignable, and between
//     numeric types only when exactly representable; anything else is
//     [ErrInvalidArgument], naming the argument and both types.
//   - Arguments, results and props cross by copy (Workers' structured
//     clone): neither side can change the other's data. Funcs, Bindings and
//     contexts cross by reference; channels cannot cross, nor can a struct
//     whose unexported fields hold data, unless it marshals itself (as
//     time.Time does).
//   - A value of a type that embeds [RpcTarget], anywhere in an argument or
//     result, crosses as a *[Stub] whose calls run on that one object; see
//     below.
//   - Errors a method returns reach the caller with their identity, so
//     [errors.Is] and [errors.As] work (better than Workers, which keeps only
//     name and message). A panic is recovered into a *[PanicError].
//   - The caller's context reaches the method, and a context already done
//     stops the call before the method runs. [Ctx] is itself the
//     invocation's context.Context.
//   - A call chain may nest 32 invocations ([DefaultMaxDepth]); past that
//     calls fail with [ErrDepthExceeded] instead of overflowing the stack.
//     Pass the context you were given (or w.Ctx) to nested calls so that the
//     depth carries.
//   - [Ctx.WaitUntil] runs work after the answer; [Registry.Close] refuses
//     new calls ([ErrClosed]) and waits for calls and tasks in flight, as
//     long as its ctx allows; then it cancels the tasks' contexts, and a
//     later Close waits again.
//
// # Objects by reference
//
// Workers RPC passes RpcTarget objects and other stubs by reference, and
// so does this package. A method that returns a *Counter, where Counter
// embeds [RpcTarget], gives its caller a *[Stub]; calls through it run on
// that Counter, with every rule of a binding call. [Caller] is what [Call]
// takes: a *Binding or a *Stub.
//
//	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 12)
//	defer counter.Close()
//	n, err := workers.Call[int](ctx, counter, "Increment", 3)
//
// [Stub.Close] releases a reference and [Stub.Dup] makes another; after the
// last one, the target's Dispose method runs, and calls fail with
// [ErrDisposed]. References are released automatically as in Workers: those
// a method receives as arguments when it returns, those an invocation
// receives as results when it ends, and all at [Registry.Close]. [Pipe]
// calls a method on a result that may not exist yet, and [Await] gives that
// result.
//
// # Durable Objects
//
// State that must be coordinated lives in a Durable Object: a type that
// embeds [DurableObject], exported in [Worker.DurableObjects] and reached
// through a namespace ([Env.DurableObject]) by name or ID. Each ID has one
// live instance in the registry, whose fields persist across calls until it
// is evicted for idling; its calls run one at a time; its [Storage] is a
// SQLite file of its own that survives restarts, with transactions and an
// alarm that runs its Alarm method:
//
//	n, err := workers.Call[int](ctx, w.Env.DurableObject("COUNTER").GetByName("home"), "Increment")
//
// A call on an object's [Stub] keeps every rule above. A call chain that
// comes back to an object it is already in runs (the object knows its own
// call by the context), so pass a method's context on to nested calls.
// A class that loads state before its first call implements
// [DurableObjectConstructor]. A namespace whose ScriptName is a worker
// registered with [Registry.RegisterRemote] (package remote) is reached in
// the one process that hosts it, with the same semantics.
//
// # Middleware and logs
//
// An [Interceptor] wraps every call and fetch a registry makes or serves,
// as net/http middleware wraps a handler: to log, trace or measure them
// (package otelworkers is one, for OpenTelemetry) or to refuse some. It
// sees a [CallInfo]: service, entrypoint, method, caller, props, depth and
// arguments, and the error. Give interceptors to a registry with
// [WithInterceptors], or to one worker with [Worker].Interceptors. A
// registry without any pays nothing for them.
//
// The registry's logger ([WithLogger]) gets what no caller can see or an
// operator must: WaitUntil failures, panics with their stack, calls
// refused by the depth limit or an interceptor, config warnings, each with
// service, entrypoint, method and error attributes.
//
// Package workerstest is the test kit: a registry per test, fakes for
// bindings, waiting for WaitUntil tasks, and a mode in which calls cross
// the encoding of a remote call.
//
// Every Registry method, Binding and Env is safe for concurrent use.
package workers
