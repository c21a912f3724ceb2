package workers

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync/atomic"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/method"
)

// Binding is a service binding: it calls the RPC methods of one entrypoint of
// one worker, by name, as env.WORKER_B.add(1, 2) does in Workers. Each call
// runs on a fresh instance. Arguments and results cross by copy; funcs,
// Bindings and contexts cross by reference. A Binding is safe for concurrent
// use; the zero or nil Binding fails every call with [ErrServiceNotFound].
type Binding struct {
	reg  *Registry
	svc  Service
	from string // the worker whose Env holds it; "" for Registry.Bind
	err  error  // a binding that can never resolve, from Env.Service
	ep   atomic.Pointer[entrypoint]
}

// copier copies values across every invocation: Bindings and contexts are
// references, not data.
var copier = clone.New(reflect.TypeFor[*Binding](), reflect.TypeFor[context.Context]())

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
	ep, err := b.resolve()
	if err != nil {
		return nil, err
	}
	m, err := ep.method(method)
	if err != nil {
		return nil, err
	}
	out, err := b.reg.invoke(ctx, b, ep, m, args)
	if err != nil || !out.IsValid() {
		return nil, err
	}
	return out.Interface(), nil
}

// Call calls method through b, as [Binding.Call] does, and returns its result
// as an R: a result of another type is an [ErrInvalidResult] error, except
// for numbers that convert exactly.
//
//	sum, err := workers.Call[int](ctx, env.Service("WORKER_B"), "Add", 1, 2)
func Call[R any](ctx context.Context, b *Binding, method string, args ...any) (R, error) {
	var zero R
	v, err := b.Call(ctx, method, args...)
	if err != nil {
		return zero, err
	}
	if r, ok := v.(R); ok {
		return r, nil
	}
	rt := reflect.TypeFor[R]()
	cv, err := clone.Convert(v, rt)
	if err != nil {
		return zero, &callError{kind: ErrInvalidResult, msg: fmt.Sprintf("workers: %s method %q: result: %v", b.label(), method, err)}
	}
	return cv.Interface().(R), nil
}

func (b *Binding) label() string {
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
		msg := fmt.Sprintf("%s: The RPC receiver does not implement the method %q.", ep.display, name)
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

// begin opens an invocation: it checks ctx, the depth limit and the
// registry, and makes the callee's Ctx.
func (r *Registry) begin(ctx context.Context, b *Binding, ep *entrypoint, what string) (*Ctx, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, &callError{kind: err, msg: fmt.Sprintf("workers: %s %s: %v", ep.display, what, err)}
	}
	depth := depthOf(ctx) + 1
	if depth > r.opts.maxDepth {
		return nil, newError(ErrDepthExceeded, "%s %s: Subrequest depth limit exceeded. This request recursed through Workers too many times (limit %d).", ep.display, what, r.opts.maxDepth)
	}
	if !r.track.begin() {
		return nil, newError(ErrClosed, "%s %s: the registry is closed", ep.display, what)
	}
	c := &Ctx{parent: ctx, reg: r, ep: ep, depth: depth}
	if b.svc.Props != nil {
		p, err := copier.Copy(b.svc.Props)
		if err != nil {
			r.track.done()
			return nil, newError(ErrInvalidArgument, "%s %s: props: %v", ep.display, what, err)
		}
		c.props = p
	}
	return c, nil
}

// instance makes the fresh receiver of one invocation.
func (ep *entrypoint) instance(c *Ctx) (any, error) {
	inst := ep.ctor.fn()
	if inst == nil {
		return nil, fmt.Errorf("workers: %s: the constructor of %s returned nil", ep.display, ep.ctor.typ)
	}
	base := inst.(embedsEntrypoint).base()
	base.Env, base.Ctx = ep.worker.env, c
	return inst, nil
}

func (r *Registry) invoke(ctx context.Context, b *Binding, ep *entrypoint, m *method.Method, args []any) (out reflect.Value, err error) {
	c, err := r.begin(ctx, b, ep, "method "+quote(m.Name))
	if err != nil {
		return out, err
	}
	defer r.track.done()
	in, err := ep.arguments(m, c, args)
	if err != nil {
		return out, err
	}
	inst, err := ep.instance(c)
	if err != nil {
		return out, err
	}
	in[0] = reflect.ValueOf(inst)

	defer func() {
		if v := recover(); v != nil {
			out, err = reflect.Value{}, &PanicError{Value: v, Stack: debug.Stack(), where: fmt.Sprintf("%s method %q", ep.display, m.Name)}
		}
	}()
	res := m.Func.Call(in)
	if m.Error {
		if e := res[len(res)-1]; !e.IsNil() {
			return reflect.Value{}, e.Interface().(error)
		}
	}
	if m.Result == nil {
		return reflect.Value{}, nil
	}
	out, err = copier.CopyValue(res[0])
	if err != nil {
		return reflect.Value{}, newError(ErrInvalidArgument, "%s method %q: result: %v", ep.display, m.Name, err)
	}
	return out, nil
}

// arguments matches args to m's parameters and copies them, leaving in[0]
// for the receiver.
func (ep *entrypoint) arguments(m *method.Method, c *Ctx, args []any) ([]reflect.Value, error) {
	fixed := len(m.Params)
	if m.Variadic {
		fixed--
	}
	if len(args) < fixed || (!m.Variadic && len(args) > fixed) {
		want := fmt.Sprint(fixed)
		if m.Variadic {
			want = "at least " + want
		}
		return nil, newError(ErrInvalidArgument, "%s method %s: got %d arguments, want %s", ep.display, m.Signature(), len(args), want)
	}
	lead := 1
	if m.Ctx {
		lead = 2
	}
	in := make([]reflect.Value, lead+len(args))
	if m.Ctx {
		in[1] = reflect.ValueOf(c)
	}
	for i, a := range args {
		pt := m.Params[min(i, len(m.Params)-1)]
		if m.Variadic && i >= fixed {
			pt = m.Params[fixed].Elem()
		}
		v, err := clone.Convert(a, pt)
		if err == nil {
			v, err = copier.CopyValue(v)
		}
		if err != nil {
			return nil, &callError{kind: ErrInvalidArgument, cause: err,
				msg: fmt.Sprintf("workers: %s method %s: argument %d: %v", ep.display, m.Signature(), i, err)}
		}
		in[lead+i] = v
	}
	return in, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
