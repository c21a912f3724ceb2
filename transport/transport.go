// Package transport is what carries invocations to workers in other
// processes: the interface a transport implements, the call it carries, and
// how a call chain's depth crosses the wire. Package remote is one transport
// (connect-go over HTTP/2); write another by implementing [Transport] and
// registering it with [workers.Registry.RegisterRemote].
//
// Worker authors do not need this package: a binding to a remote worker is
// called exactly as a local one.
package transport

import (
	"context"
	"net/http"
	"reflect"
)

// A Transport carries invocations to a worker that runs in another process,
// so that bindings to it work unchanged.
type Transport interface {
	// Call runs one RPC call remotely and returns its result, decoded into
	// call.Result when that is set.
	Call(ctx context.Context, call *Call) (any, error)
	// Fetch sends req to the remote worker's Fetch.
	Fetch(ctx context.Context, call *Call, req *http.Request) (*http.Response, error)
}

// Call is one invocation as a [Transport] carries it.
type Call struct {
	Service    string       // the service name the caller bound to
	Entrypoint string       // "" for the default entrypoint
	Method     string       // "" for Fetch
	Args       []any        // as the caller passed them
	Props      any          // the binding's props
	Depth      int          // this invocation's depth in its call chain
	Result     reflect.Type // the result type the caller wants (workers.Call), or nil for any
	// Caller is the worker whose binding or invocation makes the call, ""
	// outside any worker. The serving side receives it as the caller
	// reports it (see [WithCaller]): it names, it does not authenticate.
	Caller string

	// A call of a Durable Object (see [DurableObjectTransport]) names the
	// object instead of an entrypoint: Entrypoint and Props are empty.
	Class  string // the Durable Object class of Service
	Object string // the object's ID, as 64 hex digits (workers.DurableObjectID.String)
}

// A DurableObjectTransport is a [Transport] that also carries calls of the
// Durable Objects its worker hosts, so that a namespace binding whose
// script_name is that worker works across processes. The hosting side
// must check the ID it receives and run the call on the one object of
// that ID, as a call in its own process would. Namespaces of a worker
// whose Transport lacks this method fail every call with an error that
// says so.
type DurableObjectTransport interface {
	Transport
	// CallDurableObject runs one RPC call on the object call.Object of
	// class call.Class of call.Service, and returns its result as Call
	// does.
	CallDurableObject(ctx context.Context, call *Call) (any, error)
}

// A Dialer makes the Transport for a service that a configuration file
// places at an address (a service binding's address key).
type Dialer func(service, address string) (Transport, error)

// MethodInfo describes an RPC method, for a transport's serving side that
// decodes arguments straight into their parameter types.
type MethodInfo struct {
	Name     string
	Params   []reflect.Type // after an optional context; the last is a slice when Variadic
	Variadic bool
	Result   reflect.Type // nil when the method returns no value
}

type depthKey struct{}

// WithDepth returns a context in which calls count as made by an invocation
// at the given depth of its call chain. A transport's serving side uses it
// so that the depth limit spans processes.
func WithDepth(ctx context.Context, depth int) context.Context {
	return context.WithValue(ctx, depthKey{}, max(depth, 0))
}

// Depth returns the depth WithDepth put in ctx, or 0.
func Depth(ctx context.Context) int {
	d, _ := ctx.Value(depthKey{}).(int)
	return d
}

// MaxCallerBytes bounds the caller's name a call carries across processes
// ([Call.Caller]): a serving side refuses a longer one, and a calling side
// sends none rather than a longer one.
const MaxCallerBytes = 256

type callerKey struct{}

// WithCaller returns a context in which a call received from another
// process counts as made by the worker named caller, as the peer reported
// it. A transport's serving side uses it so that the serving registry's
// interceptors see who called ([workers.CallInfo].Caller). The name is
// informational: the peer's credential, which the serving side checked,
// is the authority on what the call may reach; anyone holding that
// credential can claim any name.
func WithCaller(ctx context.Context, caller string) context.Context {
	if caller == "" {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerOf returns the caller WithCaller put in ctx, or "".
func CallerOf(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

// A Pipeliner is a [Transport] that can pipeline calls, as Workers RPC and
// Cap'n Web do: it sends a call without waiting for its result, and calls
// made on that result travel right behind it, naming it before it exists,
// so that a chain of dependent calls costs one round trip instead of one
// per call. workers.Pipe uses it when the Transport of a remote worker
// implements it, and makes a plain call through [Transport.Call] when it
// does not: pipelining is an optimisation a transport may offer, never a
// requirement.
type Pipeliner interface {
	// Pipe sends call and returns at once its pending result. ok is false
	// when this Transport cannot pipeline the call after all (its peer
	// speaks only unary calls): the runtime then makes it with Call. done
	// is called once, when the result has arrived or the call has failed:
	// the runtime counts the call as in flight until then. Canceling ctx
	// cancels the call where it runs; its deadline travels with it.
	Pipe(ctx context.Context, call *Call, done func()) (p Pending, ok bool)
}

// A Pending is the result of a call a [Pipeliner] sent, which may not have
// arrived yet. It is what a stub that workers.Pipe returns calls. If the
// call fails, every call made or piped on its result fails with an error
// that wraps the call's (errors.Is holds), and nothing runs on the result.
type Pending interface {
	// Call calls method on the result, which must be a reference (an
	// RpcTarget, a stub, a binding), without waiting for it to arrive.
	Call(ctx context.Context, method string, args []any, result reflect.Type) (any, error)
	// Pipe calls method on the result as Call does, and returns at once
	// the pending result of that call.
	Pipe(ctx context.Context, method string, args []any) Pending
	// Await waits for the result and returns it, decoded into result when
	// that is set (nil: any).
	Await(ctx context.Context, result reflect.Type) (any, error)
	// Release is called once, when the last reference to the result is
	// released: the result (a reference the peer holds for it) is released
	// once it has arrived.
	Release()
	// Describe names the result in messages.
	Describe() string
}
