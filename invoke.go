package workers

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/internal/shim"
)

// This file is the call path. It is kept free of formatting and of
// allocations beyond the instance with its Ctx and the boxed result:
// messages are built only when something fails.

// what names an invocation in messages: a method, or "" for Fetch.
func what(method string) string {
	if method == "" {
		return "Fetch"
	}
	return fmt.Sprintf("method %q", method)
}

// begin opens an invocation: it makes the callee's Ctx and opens it. A New
// constructor's instance is allocated with the Ctx and returned, filled;
// inst is nil when a NewFunc constructor has yet to run (see instance).
func (r *Registry) begin(ctx context.Context, b *Binding, ep *entrypoint, method string) (c *Ctx, inst any, err error) {
	if ep.ctor.alloc != nil {
		inst, c = ep.ctor.alloc(ep.worker.env)
	} else {
		c = new(Ctx)
	}
	if err := r.open(ctx, b.svc.Props, ep, method, &c.inv); err != nil {
		return nil, nil, err
	}
	return c, inst, nil
}

// open checks ctx, the depth limit and the registry, counts the call in,
// and fills inv, the callee's Ctx's, which must then end. It keeps no
// reference to inv. Everything but the checks is out of line: a small
// frame is a fast call.
func (r *Registry) open(ctx context.Context, props any, ep *entrypoint, method string, inv *link.Invocation) error {
	if ctx == nil {
		ctx = context.Background()
	}
	depth := 1
	if !isRoot(ctx) {
		if ctx.Err() != nil {
			return r.refuse(ctx, ep, method)
		}
		depth += depthOf(ctx)
	}
	if depth > r.opts.maxDepth {
		return r.refuse(ctx, ep, method)
	}
	if !r.track.begin() {
		return newError(ErrClosed, "%s %s: the registry is closed", ep.display, what(method))
	}
	inv.Parent, inv.Entry, inv.Depth = ctx, ep, int16(depth)
	if props != nil {
		return r.openProps(props, ep, inv, method)
	}
	return nil
}

// refuse says why ctx cannot make a call: it is done, or too deep.
func (r *Registry) refuse(ctx context.Context, ep *entrypoint, method string) error {
	if err := ctx.Err(); err != nil {
		return &callError{kind: err, msg: fmt.Sprintf("workers: %s %s: %v", ep.display, what(method), err)}
	}
	err := newError(ErrDepthExceeded, "%s %s: Subrequest depth limit exceeded. This request recursed through Workers too many times (limit %d).", ep.display, what(method), r.opts.maxDepth)
	r.logger().Warn("workers: call refused: depth limit exceeded", append(ep.attrs(method), "depth", r.opts.maxDepth+1, "error", err)...)
	return err
}

// openProps gives the opened invocation inv its own copy of props.
func (r *Registry) openProps(props any, ep *entrypoint, inv *link.Invocation, method string) error {
	p, err := copier.Copy(props)
	if err != nil {
		ep.track.done()
		*inv = link.Invocation{}
		return newError(ErrInvalidArgument, "%s %s: props: %v", ep.display, what(method), err)
	}
	inv.Parent = &withProps{Context: inv.Parent, props: p}
	return nil
}

// end closes an invocation that open opened.
func (c *Ctx) end() {
	c.inv.Held.End()
	c.entry().track.done()
}

// instance returns the fresh receiver of the invocation c, a *T with Env
// and Ctx filled: made, when begin made it, else made now. It may run user
// code (a NewFunc constructor): call it where panics are recovered.
func (ep *entrypoint) instance(c *Ctx, made any) (any, error) {
	if made != nil {
		return made, nil
	}
	return ep.construct(c)
}

// construct runs a NewFunc constructor.
func (ep *entrypoint) construct(c *Ctx) (any, error) {
	p := ep.ctor.fn()
	if p == nil {
		return nil, fmt.Errorf("workers: %s: the constructor of %s returned nil", ep.display, ep.ctor.typ)
	}
	fill(p, ep.worker.env, c)
	return p, nil
}

// finish closes an invocation that begin opened, turning a panic of the
// callee into a *PanicError in *err. It must be deferred directly.
func (ep *entrypoint) finish(c *Ctx, method string, err *error) {
	if v := recover(); v != nil {
		*err = ep.panicked(method, v)
	}
	c.end()
}

// recoverPanic turns a panic of the callee into a *PanicError in *err. It
// must be deferred directly.
func (ep *entrypoint) recoverPanic(method string, err *error) {
	if v := recover(); v != nil {
		*err = ep.panicked(method, v)
	}
}

// panicked describes a panic of the callee, with its stack, and logs it:
// the caller gets the error, the operator sees it as Workers logs an
// uncaught exception.
func (ep *entrypoint) panicked(method string, v any) *PanicError {
	pe := &PanicError{Value: v, Stack: debug.Stack(), where: ep.display + " " + what(method)}
	ep.worker.reg.logger().Error("workers: call panicked", append(ep.attrs(method), "panic", fmt.Sprint(v), "stack", string(pe.Stack))...)
	return pe
}

// attrs are the structured attributes that name ep and method in the
// registry's log: service and entrypoint, or target for a call through a
// stub; method, "Fetch" for a fetch, absent for "-" (not a call: a
// WaitUntil task, which outlives its call).
func (ep *entrypoint) attrs(method string) []any {
	a := make([]any, 0, 10)
	switch {
	case ep == nil:
	case ep.worker.name == "" && ep.table != nil:
		a = append(a, "target", ep.name)
	default:
		a = append(a, "service", ep.worker.name)
		if ep.name != "" {
			a = append(a, "entrypoint", ep.name)
		}
	}
	if method != "-" {
		a = append(a, "method", whatName(method))
	}
	return a
}

func whatName(method string) string {
	if method == "" {
		return "Fetch"
	}
	return method
}

// invoke calls m on a fresh instance: through its shim or generated
// dispatcher when it has one, else by reflection.
func (r *Registry) invoke(ctx context.Context, b *Binding, ep *entrypoint, m *method.Method, args []any) (out any, err error) {
	if m.Fast == nil {
		return r.invokeReflect(ctx, b, ep, m, args)
	}
	var in shim.Args
	var sc *link.Scope
	if m.AllPlain && len(args) <= 2 && asIs(args, m.Params) {
		in = shim.Two(args) // the common call: nothing to convert or copy
	} else if in, sc, err = ep.arguments(m, args); err != nil {
		return nil, err
	}
	if sc != nil {
		defer sc.End() // after the method returns, not before
	}
	c, inst, err := r.begin(ctx, b, ep, m.Name)
	if err != nil {
		return nil, err
	}
	defer ep.finish(c, m.Name, &err)
	if inst, err = ep.instance(c, inst); err != nil {
		return nil, err
	}
	res, err := m.Fast(inst, c, in)
	if err != nil || m.Result == nil {
		return nil, err
	}
	return ep.result(ctx, m, res)
}

// invokeReflect is invoke for a method of an uncommon shape, called with
// reflect.Value.Call. It is apart from invoke, not a branch of it, because
// the reflective arguments in invoke's frame cost the common call about
// 10% (interleaved runs of both builds).
func (r *Registry) invokeReflect(ctx context.Context, b *Binding, ep *entrypoint, m *method.Method, args []any) (out any, err error) {
	in, sc, err := ep.reflectArguments(m, args)
	if err != nil {
		return nil, err
	}
	if sc != nil {
		defer sc.End()
	}
	c, inst, err := r.begin(ctx, b, ep, m.Name)
	if err != nil {
		return nil, err
	}
	defer ep.finish(c, m.Name, &err)
	if inst, err = ep.instance(c, inst); err != nil {
		return nil, err
	}
	return ep.callReflect(ctx, c, m, inst, in)
}

// callReflect calls m on inst with reflect.Value.Call; in holds the
// arguments after the receiver and the context.
func (ep *entrypoint) callReflect(ctx context.Context, c *Ctx, m *method.Method, inst any, in []reflect.Value) (any, error) {
	in[0] = reflect.ValueOf(inst)
	if m.Ctx {
		in[1] = reflect.ValueOf(c)
	}
	res := m.Func.Call(in)
	if m.Error {
		if e := res[len(res)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if m.Result == nil {
		return nil, nil
	}
	return ep.result(ctx, m, res[0].Interface())
}

// result makes the result of a call the caller's, whose context is ctx:
// copied, so the caller cannot reach the callee's data, unless it needs no
// copy; a target or a stub becomes the caller's own Stub.
func (ep *entrypoint) result(ctx context.Context, m *method.Method, res any) (any, error) {
	if m.PlainOut {
		return res, nil
	}
	if s, ok := ep.swapResult(ctx, res); ok {
		return s, nil
	}
	out, err := copyResult(ctx, ep, res)
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

// argument converts and copies argument i for parameter type pt. Targets
// and stubs in it, at any depth, become new references held by sc, which
// is nil when the method's parameters can hold none (see markPlain).
func (ep *entrypoint) argument(m *method.Method, i int, a any, pt reflect.Type, sc *link.Scope) (reflect.Value, error) {
	if pt != stubType && isTarget(pt) {
		return reflect.Value{}, newError(ErrInvalidArgument, "%s method %s: argument %d: parameter type %s is an RpcTarget, which crosses by reference: declare the parameter as *workers.Stub (or any, or workers.Caller)", ep.display, m.Signature(), i, pt)
	}
	if b, ok := a.(*Binding); ok && b != nil && pt == stubType && sc != nil {
		// A service binding is a stub in Workers: declared *Stub, it is
		// one, released when the method returns (as over a transport).
		s := newStub(bindingTarget{b})
		sc.Add(s)
		return reflect.ValueOf(s), nil
	}
	v, err := clone.Convert(a, pt)
	if err == nil {
		if pt.Kind() == reflect.Interface && v.Type() != pt {
			// Copy it as the parameter holds it, so that a target
			// arriving in an interface becomes a stub there.
			iv := reflect.New(pt).Elem()
			iv.Set(v)
			v = iv
		}
		var swap clone.SwapFunc
		if sc != nil {
			swap = ep.worker.reg.holdIn(sc)
		}
		v, err = copier.CopyValueSwap(v, swap)
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
		return ok && !needs && !holdsStub(t) && !isTarget(t)
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
		// A *Binding result may be a peer's, which the caller needs a
		// reference of its own to (see swapResult).
		m.PlainOut = m.Result != nil && m.Result.Kind() != reflect.Interface && m.Result != bindingType && plain(m.Result)
		m.RefOut = m.Result != nil && (m.Result == stubType || isTarget(m.Result))
		m.Refs = false
		for _, pt := range m.Params {
			m.Refs = m.Refs || mayHoldRef(pt, map[reflect.Type]bool{})
		}
	}
}

// asIs reports whether args are as many as params and each of its
// parameter's type exactly.
func asIs(args []any, params []reflect.Type) bool {
	if len(args) != len(params) {
		return false
	}
	for i, a := range args {
		if a == nil || reflect.TypeOf(a) != params[i] {
			return false
		}
	}
	return true
}

// arguments prepares arguments for a Fast method: each converted to its
// parameter's type and copied, unless it needs neither. The references it
// makes for the callee are in sc (nil when none), for the caller to release
// when the method returns.
func (ep *entrypoint) arguments(m *method.Method, args []any) (in shim.Args, sc *link.Scope, err error) {
	if err := ep.checkCount(m, len(args)); err != nil {
		return shim.Args{}, nil, err
	}
	in = shim.MakeArgs(len(args))
	if m.Refs {
		sc = new(link.Scope)
	}
	for i, a := range args {
		pt, plain := m.Param(i)
		if plain && a != nil && reflect.TypeOf(a) == pt {
			in.Set(i, a)
			continue
		}
		v, err := ep.argument(m, i, a, pt, sc)
		if err != nil {
			sc.End()
			return shim.Args{}, nil, err
		}
		in.Set(i, v.Interface())
	}
	return in, sc, nil
}

// reflectArguments prepares arguments for reflect.Value.Call, leaving in[0]
// for the receiver and, when the method takes one, in[1] for the context.
func (ep *entrypoint) reflectArguments(m *method.Method, args []any) (in []reflect.Value, sc *link.Scope, err error) {
	if err := ep.checkCount(m, len(args)); err != nil {
		return nil, nil, err
	}
	lead := 1
	if m.Ctx {
		lead = 2
	}
	in = make([]reflect.Value, lead+len(args))
	if m.Refs {
		sc = new(link.Scope)
	}
	for i, a := range args {
		pt, _ := m.Param(i)
		v, err := ep.argument(m, i, a, pt, sc)
		if err != nil {
			sc.End()
			return nil, nil, err
		}
		in[lead+i] = v
	}
	return in, sc, nil
}
