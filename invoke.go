package workers

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/internal/shim"
)

// This file is the call path. It is kept free of formatting and of
// allocations beyond the instance, its Ctx and the boxed result: messages
// are built only when something fails.

// what names an invocation in messages: a method, or "" for Fetch.
func what(method string) string {
	if method == "" {
		return "Fetch"
	}
	return fmt.Sprintf("method %q", method)
}

// begin opens an invocation: it makes the callee's Ctx (with its instance,
// when the constructor can make both at once) and opens it.
func (r *Registry) begin(ctx context.Context, b *Binding, ep *entrypoint, method string) (*Ctx, error) {
	var c *Ctx
	if ep.ctor.alloc != nil {
		c = ep.ctor.alloc()
	} else {
		c = new(Ctx)
	}
	if err := r.open(ctx, b, ep, method, c); err != nil {
		return nil, err
	}
	return c, nil
}

// open checks ctx, the depth limit and the registry, and fills c. It keeps
// no reference to c, so a generated client's Ctx can live on its stack.
func (r *Registry) open(ctx context.Context, b *Binding, ep *entrypoint, method string, c *Ctx) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return &callError{kind: err, msg: fmt.Sprintf("workers: %s %s: %v", ep.display, what(method), err)}
	}
	depth := depthOf(ctx) + 1
	if depth > r.opts.maxDepth {
		return newError(ErrDepthExceeded, "%s %s: Subrequest depth limit exceeded. This request recursed through Workers too many times (limit %d).", ep.display, what(method), r.opts.maxDepth)
	}
	c.shard = r.track.shardFor(unsafe.Pointer(c))
	if !r.track.begin(&r.track.shards[c.shard]) {
		return newError(ErrClosed, "%s %s: the registry is closed", ep.display, what(method))
	}
	c.parent, c.ep, c.depth = ctx, ep, int16(depth)
	if b.svc.Props != nil {
		p, err := copier.Copy(b.svc.Props)
		if err != nil {
			r.end(c)
			return newError(ErrInvalidArgument, "%s %s: props: %v", ep.display, what(method), err)
		}
		c.parent = &withProps{Context: ctx, props: p}
	}
	return nil
}

// end closes an invocation that begin opened.
func (r *Registry) end(c *Ctx) {
	r.track.done(&r.track.shards[c.shard])
}

// instance returns the fresh receiver of one invocation, with Env and Ctx
// filled. It runs user code (a NewFunc constructor): call it where panics
// are recovered.
func (ep *entrypoint) instance(c *Ctx) (any, error) {
	var inst any
	if ep.ctor.inst != nil {
		inst = ep.ctor.inst(c)
	} else {
		if inst = ep.ctor.fn(); inst == nil {
			return nil, fmt.Errorf("workers: %s: the constructor of %s returned nil", ep.display, ep.ctor.typ)
		}
	}
	base := inst.(embedsEntrypoint).base()
	base.Env, base.Ctx = ep.worker.env, c
	return inst, nil
}

// recoverPanic turns a panic of the callee into a *PanicError in *err. It
// must be deferred directly.
func (ep *entrypoint) recoverPanic(method string, err *error) {
	if v := recover(); v != nil {
		*err = ep.panicked(method, v)
	}
}

// panicked describes a panic of the callee, with its stack.
func (ep *entrypoint) panicked(method string, v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack(), where: ep.display + " " + what(method)}
}

func (r *Registry) invoke(ctx context.Context, b *Binding, ep *entrypoint, m *method.Method, args []any) (any, error) {
	c, err := r.begin(ctx, b, ep, m.Name)
	if err != nil {
		return nil, err
	}
	defer r.end(c)
	if m.Fast != nil {
		in, err := ep.fastArguments(m, args)
		if err != nil {
			return nil, err
		}
		return ep.callFast(c, m, in)
	}
	in, err := ep.arguments(m, c, args)
	if err != nil {
		return nil, err
	}
	return ep.callReflect(c, m, in)
}

func (ep *entrypoint) callFast(c *Ctx, m *method.Method, in shim.Args) (out any, err error) {
	defer ep.recoverPanic(m.Name, &err)
	inst, err := ep.instance(c)
	if err != nil {
		return nil, err
	}
	res, err := m.Fast(inst, c, in)
	if err != nil || m.Result == nil {
		return nil, err
	}
	return ep.result(m, res)
}

func (ep *entrypoint) callReflect(c *Ctx, m *method.Method, in []reflect.Value) (out any, err error) {
	defer ep.recoverPanic(m.Name, &err)
	inst, err := ep.instance(c)
	if err != nil {
		return nil, err
	}
	in[0] = reflect.ValueOf(inst)
	res := m.Func.Call(in)
	if m.Error {
		if e := res[len(res)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if m.Result == nil {
		return nil, nil
	}
	return ep.result(m, res[0].Interface())
}

// result copies a method's result so the caller cannot reach the callee's
// data.
func (ep *entrypoint) result(m *method.Method, res any) (any, error) {
	if m.PlainOut {
		return res, nil
	}
	out, err := copier.Copy(res)
	if err != nil {
		return nil, newError(ErrInvalidArgument, "%s method %q: result: %v", ep.display, m.Name, err)
	}
	return out, nil
}

// checkCount reports a wrong number of arguments.
func (ep *entrypoint) checkCount(m *method.Method, n int) error {
	fixed := len(m.Params)
	if m.Variadic {
		fixed--
	}
	if n == fixed || (m.Variadic && n > fixed) {
		return nil
	}
	want := fmt.Sprint(fixed)
	if m.Variadic {
		want = "at least " + want
	}
	return newError(ErrInvalidArgument, "%s method %s: got %d arguments, want %s", ep.display, m.Signature(), n, want)
}

// argument converts and copies argument i for parameter type pt.
func (ep *entrypoint) argument(m *method.Method, i int, a any, pt reflect.Type) (reflect.Value, error) {
	v, err := clone.Convert(a, pt)
	if err == nil {
		v, err = copier.CopyValue(v)
	}
	if err != nil {
		return v, &callError{kind: ErrInvalidArgument, cause: err,
			msg: fmt.Sprintf("workers: %s method %s: argument %d: %v", ep.display, m.Signature(), i, err)}
	}
	if v.Type() != pt {
		// Assignable, not identical (a json.RawMessage for a []byte): give
		// it the parameter's own type, which fast shims and generated
		// dispatchers assert exactly.
		v = v.Convert(pt)
	}
	return v, nil
}

// markPlain records, once per method, which parameters and results need no
// copy, so that the call path can pass them on as they are.
func markPlain(t *method.Table) {
	plain := func(t reflect.Type) bool {
		needs, ok := copier.NeedsCopy(t)
		return ok && !needs
	}
	for _, m := range t.Methods {
		m.Plain = make([]bool, len(m.Params))
		m.AllPlain = !m.Variadic
		for i, pt := range m.Params {
			if m.Variadic && i == len(m.Params)-1 {
				pt = pt.Elem()
			}
			m.Plain[i] = plain(pt) && pt.Kind() != reflect.Interface
			m.AllPlain = m.AllPlain && m.Plain[i]
		}
		m.PlainOut = m.Result != nil && m.Result.Kind() != reflect.Interface && plain(m.Result)
	}
}

// fastArguments prepares arguments for a Fast method. An argument already
// of its parameter's type, and of a type that needs no copy, passes as it
// is: no reflection, no allocation.
func (ep *entrypoint) fastArguments(m *method.Method, args []any) (shim.Args, error) {
	if m.AllPlain && len(args) == len(m.Params) {
		in := shim.MakeArgs(len(args))
		for i, a := range args {
			if a == nil || reflect.TypeOf(a) != m.Params[i] {
				goto convert
			}
			in.Set(i, a)
		}
		return in, nil
	}
convert:
	if err := ep.checkCount(m, len(args)); err != nil {
		return shim.Args{}, err
	}
	in := shim.MakeArgs(len(args))
	for i, a := range args {
		pt, plain := m.Param(i)
		if plain && a != nil && reflect.TypeOf(a) == pt {
			in.Set(i, a)
			continue
		}
		v, err := ep.argument(m, i, a, pt)
		if err != nil {
			return shim.Args{}, err
		}
		in.Set(i, v.Interface())
	}
	return in, nil
}

// arguments prepares arguments for reflect.Value.Call, leaving in[0] for
// the receiver.
func (ep *entrypoint) arguments(m *method.Method, c *Ctx, args []any) ([]reflect.Value, error) {
	if err := ep.checkCount(m, len(args)); err != nil {
		return nil, err
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
		pt, _ := m.Param(i)
		v, err := ep.argument(m, i, a, pt)
		if err != nil {
			return nil, err
		}
		in[lead+i] = v
	}
	return in, nil
}
