package workers

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/method"
)

// Binding is a service binding: it calls the RPC methods of one entrypoint of
// one worker, by name, as env.WORKER_B.add(1, 2) does in Workers. Each call
// runs on a fresh instance. Arguments and results cross by copy; funcs,
// Bindings and contexts cross by reference: a Binding passed as an argument
// arrives as a Binding (as a [*Stub], released when the method returns,
// where the parameter is declared *Stub), in this process or another. A
// Binding is safe for concurrent use; the zero or nil Binding fails every
// call with [ErrServiceNotFound].
type Binding struct {
	reg  *Registry
	svc  Service
	from string // the worker whose Env holds it; "" for Registry.Bind
	err  error  // a binding that can never resolve, from Env.Service
	via  *Stub  // a binding of another process, received through a transport: calls go through it
	ep   atomic.Pointer[entrypoint]
	last atomic.Pointer[method.Method] // the local method called last: most call sites call one
}

// copier copies values across every invocation: Bindings and contexts are
// references, not data; RpcTargets and stubs, wherever they are in a value,
// become new stubs (see target.go).
var copier = clone.New(reflect.TypeFor[*Binding](), reflect.TypeFor[context.Context]()).
	Swapping(func(t reflect.Type) bool { return t == stubType || isTarget(t) }).
	Strict()

// Target returns the service binding this Binding calls through.
func (b *Binding) Target() Service {
	if b == nil {
		return Service{}
	}
	return b.svc
}

// resolve finds the target entrypoint once; workers are never removed, so
// the answer holds for the Binding's life.
func (b *Binding) resolve() (*entrypoint, error) {
	if b == nil || b.reg == nil {
		if b != nil && b.err != nil {
			return nil, b.err
		}
		return nil, newError(ErrServiceNotFound, "the Binding is not bound to a registry")
	}
	if ep := b.ep.Load(); ep != nil {
		return ep, nil
	}
	if b.err != nil {
		return nil, b.err
	}
	ep, err := b.reg.lookup(b.svc, b.from)
	if err != nil {
		return nil, err
	}
	b.ep.Store(ep)
	return ep, nil
}

// Call invokes method on a fresh instance of the target entrypoint with args
// and returns its result: nil for a method without one. ctx's deadline,
// cancellation and values reach the method; a ctx already done stops the
// call before the method runs. Errors the method returns reach the caller
// as they are, so errors.Is and errors.As work; a panic comes back as a
// *[PanicError].
func (b *Binding) Call(ctx context.Context, method string, args ...any) (any, error) {
	return b.call(ctx, method, args, nil)
}

// call is Call with the result type a remote worker should decode into.
func (b *Binding) call(ctx context.Context, name string, args []any, result reflect.Type) (any, error) {
	if b != nil {
		// Only a local method is ever remembered, and only once resolved.
		if m := b.last.Load(); m != nil && m.Name == name && (result == nil || result == m.Result && !m.RefOut) {
			return b.reg.invoke(ctx, b, b.ep.Load(), m, args)
		}
	}
	if b != nil && b.via != nil {
		// Never remembered above: it resolves to no entrypoint here.
		return b.via.call(ctx, name, args, result)
	}
	ep, err := b.resolve()
	if err != nil {
		return nil, err
	}
	if ep.worker.chain != nil {
		return b.intercept(ctx, ep, name, args, result)
	}
	return b.callResolved(ctx, ep, name, args, result)
}

// bindingVia returns a Binding whose calls go through s, the reference a
// transport made of a binding that a peer process passed: it is used as
// the peer's binding is, by Call, [Call] and typed clients, and is
// released with s (when the invocation that received it ends), after which
// its calls fail with [ErrDisposed]. It reaches no worker of this registry:
// its Fetch and [Binding.Target] have nothing to go on.
func bindingVia(s *Stub) *Binding {
	return &Binding{via: s, err: newError(ErrServiceNotFound, "%s: a Binding received from another process reaches no worker of this registry; only its RPC methods are called, through the peer", s.ref.target.describe())}
}

// bindingTarget is what a *Stub made of a Binding calls, for a parameter
// declared *Stub that receives a Binding: the Binding, by method name.
type bindingTarget struct{ b *Binding }

func (t bindingTarget) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	return t.b.call(ctx, method, args, result)
}
func (t bindingTarget) release()         {}
func (t bindingTarget) describe() string { return "binding (" + t.b.label() + ")" }

// callResolved is call once b has resolved to ep, past any interceptors.
func (b *Binding) callResolved(ctx context.Context, ep *entrypoint, name string, args []any, result reflect.Type) (any, error) {
	if ep.worker.remote != nil {
		// A copy, so that args stays on the caller's stack on the local path.
		return b.reg.callRemote(ctx, b, ep, name, append([]any(nil), args...), result)
	}
	m, err := ep.method(name)
	if err != nil {
		return nil, err
	}
	if err := checkResult(ep, m, result); err != nil {
		return nil, err
	}
	if ep.worker.chain == nil {
		// Remembered only where no interceptor must see the call.
		b.last.Store(m)
	}
	return b.reg.invoke(ctx, b, ep, m, args)
}

// Call calls method through c, a [*Binding] or a [*Stub], as their Call
// methods do, and returns its result as an R: a result of another type is an
// [ErrInvalidResult] error, except for numbers that convert exactly.
//
//	sum, err := workers.Call[int](ctx, env.Service("WORKER_B"), "Add", 1, 2)
func Call[R any](ctx context.Context, c Caller, method string, args ...any) (R, error) {
	var zero R
	if c == nil {
		return zero, newError(ErrServiceNotFound, "Call %q: nil Caller", method)
	}
	v, err := c.call(ctx, method, args, reflect.TypeFor[R]())
	if err != nil {
		return zero, err
	}
	if r, ok := v.(R); ok {
		return r, nil
	}
	rt := reflect.TypeFor[R]()
	cv, err := clone.Convert(v, rt)
	if err != nil {
		return zero, &callError{kind: ErrInvalidResult, msg: fmt.Sprintf("workers: %s method %q: result: %v", label(c), method, err)}
	}
	// Set, not a type assertion: cv may be a nil interface or of a type only
	// assignable to R (a []int for a named slice type).
	var r R
	reflect.ValueOf(&r).Elem().Set(cv)
	return r, nil
}

func label(c Caller) string {
	switch c := c.(type) {
	case *Binding:
		return c.label()
	case *Stub:
		if c != nil && c.ref != nil {
			return c.ref.target.describe()
		}
	}
	return "stub"
}

func (b *Binding) label() string {
	if b.via != nil {
		return b.via.ref.target.describe()
	}
	if ep := b.ep.Load(); ep != nil {
		return ep.display
	}
	return fmt.Sprintf("service %q", b.svc.Service)
}

// method finds an RPC method by name, or says precisely why there is none.
func (ep *entrypoint) method(name string) (*method.Method, error) {
	m := ep.table.Methods[name]
	if m == nil {
		if name == "Fetch" {
			return nil, newError(ErrReservedMethod, "%s: 'Fetch' is a reserved method and cannot be called over RPC; use Binding.Fetch", ep.display)
		}
		if name == "Scheduled" {
			return nil, newError(ErrReservedMethod, "%s: 'Scheduled' is a reserved method and cannot be called over RPC; cron triggers run it, and Registry.Scheduled", ep.display)
		}
		where := ep.display
		if ep.name == "" {
			where += " (default entrypoint)"
		}
		msg := fmt.Sprintf("%s: The RPC receiver does not implement the method %q.", where, name)
		if hint := ep.table.Suggest(name); hint != "" {
			msg += fmt.Sprintf(" Did you mean %q?", hint)
		}
		return nil, newError(ErrMethodNotFound, "%s", msg)
	}
	if m.Problem != "" {
		return nil, newError(ErrMethodNotFound, "%s: method %s cannot be called over RPC: %s", ep.display, m.Signature(), m.Problem)
	}
	return m, nil
}
