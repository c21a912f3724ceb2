package workers

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/internal/shim"
	"github.com/seed-29c11ff2/workers/transport"
)

// RpcTarget is the base a type embeds so that its values cross calls by
// reference, as a Workers class extends RpcTarget:
//
//	type Counter struct {
//		workers.RpcTarget
//		n int // private state stays with the target
//	}
//
//	func (c *Counter) Increment(by int) int { c.n += by; return c.n }
//
// A *Counter returned by a method, or passed as an argument, anywhere in
// the value (a field, an element, a map value), reaches the other side as a
// [*Stub] whose calls run on that one Counter, in the process that made it.
// The receiver declares *workers.Stub (or any, or [Caller]) there; asking
// for *Counter itself is an error that says so.
//
// Callable through a stub: the exported methods of *T, with the same shape
// rules as a worker's, except Dispose. Calls on one target may run
// concurrently: the target guards its own state. A Dispose() method, if
// there is one, runs once, after the last reference is released (see
// [Stub]).
type RpcTarget struct {
	_ [0]func() // not comparable, and no exported surface
}

// rpcTarget marks types that embed RpcTarget: it is promoted to them.
func (*RpcTarget) rpcTarget() {}

type embedsTarget interface{ rpcTarget() }

var (
	embedsTargetType = reflect.TypeFor[embedsTarget]()
	rpcTargetPtr     = reflect.TypeFor[*RpcTarget]()
	stubType         = reflect.TypeFor[*Stub]()
)

// isTarget reports whether values of t cross by reference as targets: t is
// a pointer to a struct that embeds RpcTarget.
func isTarget(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer && t != rpcTargetPtr && t.Elem().Kind() == reflect.Struct && t.Implements(embedsTargetType)
}

// isTargetValue reports whether a, a dynamic value, is a target: the
// dynamic form of isTarget, by a type assertion, which is cached.
func isTargetValue(a any) bool {
	_, ok := a.(embedsTarget)
	if ok {
		_, base := a.(*RpcTarget)
		return !base
	}
	return false
}

// holdsStub reports whether a value of type t can be a *Stub: t is *Stub,
// or an interface a *Stub implements (any, Caller, io.Closer).
func holdsStub(t reflect.Type) bool {
	return t == stubType || (t.Kind() == reflect.Interface && stubType.Implements(t))
}

// A targetClass is the method table of one target type, built once.
type targetClass struct {
	typ      reflect.Type // *T
	table    *method.Table
	dispose  bool   // *T has Dispose()
	stale    error  // T's generated dispatcher no longer matches it
	bindable []bool // by method index: a method without Fast whose shape shim.Bound takes
}

var targetClasses sync.Map // reflect.Type (*T) -> *targetClass

// targetExcluded are the names no call through a stub reaches.
var targetExcluded = map[string]bool{"Dispose": true}

func classOf(t reflect.Type) *targetClass {
	if c, ok := targetClasses.Load(t); ok {
		return c.(*targetClass)
	}
	c := &targetClass{typ: t, table: method.Build(t, excludedFrom(t.Elem(), targetExcluded))}
	markPlain(c.table)
	if v, ok := link.Dispatchers.Load(t.Elem()); ok {
		// workersgen's dispatcher: calls without reflection.
		d := v.(*link.Dispatcher)
		if got := c.table.Hash(); got != d.Hash {
			c.stale = fmt.Errorf("%w: RpcTarget type %s: its generated code (workers_gen.go) is stale: the method set has changed since it was generated (hash %s, now %s); run go generate",
				ErrInvalidWorker, t.Elem(), d.Hash, got)
		} else {
			for name, m := range c.table.Methods {
				if m.Problem == "" {
					m.Fast = d.Methods[name]
				}
			}
		}
	}
	c.bindable = make([]bool, t.NumMethod())
	for _, m := range c.table.Methods {
		if m.Problem == "" && m.Fast == nil {
			c.bindable[m.Index] = shim.Bound(reflect.Zero(boundType(m.Type)).Interface()) != nil
		}
	}
	if m, ok := t.MethodByName("Dispose"); ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 0 {
		c.dispose = true
	}
	v, _ := targetClasses.LoadOrStore(t, c)
	return v.(*targetClass)
}

// boundType is the type of a method value of a method of type ft, whose
// first parameter is the receiver.
func boundType(ft reflect.Type) reflect.Type {
	in := make([]reflect.Type, ft.NumIn()-1)
	for i := range in {
		in[i] = ft.In(i + 1)
	}
	out := make([]reflect.Type, ft.NumOut())
	for i := range out {
		out[i] = ft.Out(i)
	}
	return reflect.FuncOf(in, out, ft.IsVariadic())
}

// localTarget is an RpcTarget of this process that stubs refer to.
type localTarget struct {
	class *targetClass
	obj   reflect.Value // the *T
	recv  any           // the *T, for generated dispatchers
	reg   *Registry
	ep    *entrypoint                   // names the target in messages and counts its calls
	last  atomic.Pointer[method.Method] // the method called last: most stubs call one
	bound atomic.Pointer[boundShim]     // its methods bound to it, from its second call; see fast
	used  atomic.Bool                   // a method of a bindable shape was called by reflection
}

// boundShim is a method bound to one target, called through a shim: a
// list, as a target has few methods and most stubs call one.
type boundShim struct {
	m    *method.Method
	f    shim.Func
	next *boundShim
}

// fast returns how to call m on t without reflect.Value.Call, or nil to
// call it by reflection. A target's type has no generic instantiation of
// package shim, as a worker's has (New[T]): the type is known only at run
// time. But a method value bound to the target has a type that does not
// name the target's, so that shim.Bound can switch on it. Binding costs
// allocations (the method value and its shim), which a target made for one
// call would pay for nothing: its first call goes by reflection, and each
// method is bound when it is called after that.
func (t *localTarget) fast(m *method.Method) shim.Func {
	if m.Fast != nil || !t.class.bindable[m.Index] {
		return m.Fast
	}
	head := t.bound.Load()
	for b := head; b != nil; b = b.next {
		if b.m == m {
			return b.f
		}
	}
	if !t.used.Load() && t.used.CompareAndSwap(false, true) {
		return nil
	}
	f := shim.Bound(t.obj.Method(m.Index).Interface())
	for !t.bound.CompareAndSwap(head, &boundShim{m: m, f: f, next: head}) {
		head = t.bound.Load() // a concurrent call bound a method: keep it
	}
	return f
}

// export returns a new reference to obj, a target: the first makes obj's
// localTarget, later ones share it until its last reference is released.
func (r *Registry) export(obj reflect.Value) *Stub {
	key := obj.Interface()
	r.exportsMu.Lock()
	defer r.exportsMu.Unlock()
	if ref := r.exports[key]; ref != nil {
		if s := ref.dup(); s != nil {
			return s
		}
	}
	class := classOf(obj.Type())
	ep := r.targetEPs[class]
	if ep == nil {
		ep = &entrypoint{
			worker:  &worker{reg: r},
			track:   r.track,
			name:    obj.Type().String(),
			table:   class.table,
			display: fmt.Sprintf("RpcTarget (%s)", obj.Type()),
		}
		if r.targetEPs == nil {
			r.exports = make(map[any]*stubRef)
			r.targetEPs = make(map[*targetClass]*entrypoint)
		}
		r.targetEPs[class] = ep
	}
	s := newStub(&localTarget{class: class, obj: obj, recv: key, reg: r, ep: ep})
	r.exports[key] = s.ref
	return s
}

func (t *localTarget) describe() string { return t.ep.display }

// release runs once the last reference is gone: the registry forgets the
// target and its Dispose runs.
func (t *localTarget) release() {
	r := t.reg
	key := t.obj.Interface()
	r.exportsMu.Lock()
	if ref := r.exports[key]; ref != nil && ref.target == t {
		delete(r.exports, key)
	}
	r.exportsMu.Unlock()
	if !t.class.dispose {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			r.logger().Error("workers: Dispose panicked", "target", t.ep.name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	t.obj.Interface().(interface{ Dispose() }).Dispose()
}

// call runs a method on the target with every rule of a binding call,
// except that it runs on this one object instead of a fresh instance.
func (t *localTarget) call(ctx context.Context, name string, args []any, result reflect.Type) (any, error) {
	if t.reg.targetChain != nil {
		ci := &CallInfo{Target: t.class.typ.String(), Method: name, Result: result, target: t}
		return t.reg.interceptTarget(ctx, t.reg.targetChain, ci, args)
	}
	return t.invoke(ctx, name, args, result)
}

func (t *localTarget) info(name string) (transport.MethodInfo, error) {
	m, err := t.ep.method(name)
	if err != nil {
		return transport.MethodInfo{}, err
	}
	return methodInfo(m), nil
}

// invoke is call past any interceptors.
func (t *localTarget) invoke(ctx context.Context, name string, args []any, result reflect.Type) (out any, err error) {
	ep := t.ep
	if t.class.stale != nil {
		return nil, t.class.stale
	}
	m, fast, in, rin, sc, err := ep.prepare(&t.last, ep.method, t.fast, name, args, result)
	if err != nil {
		return nil, err
	}
	if sc != nil {
		defer sc.End() // after the method returns, not before
	}
	var inv link.Invocation
	if err := t.reg.open(ctx, nil, ep, name, &inv); err != nil {
		return nil, err
	}
	var c *Ctx // what a method with a context parameter and its nested calls see
	if m.Ctx {
		c = &Ctx{inv: inv}
	}
	defer ep.finishTarget(c, &inv, name, &err)
	if fast == nil {
		return ep.callReflect(ctx, c, m, t.recv, rin)
	}
	res, err := fast(t.recv, c, in)
	if err != nil || m.Result == nil {
		return nil, err
	}
	return ep.result(ctx, m, res)
}

// exportAll releases every reference the registry's targets have, for
// Registry.Close: each target's Dispose runs, and calls through its stubs
// fail with ErrDisposed.
func (r *Registry) releaseExports() {
	r.exportsMu.Lock()
	refs := make([]*stubRef, 0, len(r.exports))
	for _, ref := range r.exports {
		refs = append(refs, ref)
	}
	r.exportsMu.Unlock()
	for _, ref := range refs {
		ref.revoke()
	}
}

// prepare finds method name for a call on one object (an RpcTarget, a
// Durable Object), through last, the method called last, or lookup;
// refuses a result type that can never be; finds how to call it, fast:
// m.Fast, or what bind returns when bind is not nil, or nil for
// reflection; and prepares args: as they are for the common call, for
// fast in in, or for reflection in rin. The
// references it makes for the callee are in sc, to release when the method
// returns.
func (ep *entrypoint) prepare(last *atomic.Pointer[method.Method], lookup func(string) (*method.Method, error), bind func(*method.Method) shim.Func, name string, args []any, result reflect.Type) (m *method.Method, fast shim.Func, in shim.Args, rin []reflect.Value, sc *link.Scope, err error) {
	m = last.Load()
	if m == nil || m.Name != name || result != nil && (result != m.Result || m.RefOut) {
		if m, err = lookup(name); err != nil {
			return nil, nil, in, nil, nil, err
		}
		if err := checkResult(ep, m, result); err != nil {
			return nil, nil, in, nil, nil, err
		}
		last.Store(m)
	}
	fast = m.Fast
	if bind != nil {
		fast = bind(m)
	}
	switch {
	case fast == nil:
		rin, sc, err = ep.reflectArguments(m, args)
	case m.AllPlain && len(args) <= 2 && asIs(args, m.Params):
		in = shim.Two(args) // the common call: nothing to convert or copy
	default:
		in, sc, err = ep.arguments(m, args)
	}
	return m, fast, in, rin, sc, err
}

// finishTarget closes a call on a target, turning a panic of the method
// into a *PanicError in *err. c is the call's Ctx, or nil when it made
// none; inv is what open filled. It must be deferred directly.
func (ep *entrypoint) finishTarget(c *Ctx, inv *link.Invocation, method string, err *error) {
	if v := recover(); v != nil {
		*err = ep.panicked(method, v)
	}
	if c != nil {
		c.end()
		return
	}
	inv.Held.End()
	ep.track.done()
}

// checkResult refuses, before the method runs, a call whose result can
// never be of the type the caller asked for (want, from Call[R]; nil for
// any), so that the method's side effects do not happen for nothing.
func checkResult(ep *entrypoint, m *method.Method, want reflect.Type) error {
	if want == nil || want == m.Result && !m.RefOut {
		return nil
	}
	got := m.Result
	switch {
	case got == nil:
		return nil // no result: the call says so after it ran, as it always has
	case m.RefOut:
		if holdsStub(want) {
			return nil
		}
		return newError(ErrInvalidResult, "%s method %q: result: a %s crosses by reference as a *workers.Stub; ask for *workers.Stub (or any, or workers.Caller), not %s", ep.display, m.Name, got, want)
	case got.Kind() == reflect.Interface, got.AssignableTo(want), clone.IsNumber(got.Kind()) && clone.IsNumber(want.Kind()):
		return nil
	}
	return newError(ErrInvalidResult, "%s method %q: result: %s (%s) can never be a %s; the method was not called", ep.display, m.Name, got, m.Signature(), want)
}

// holdIn returns the swap function of a copy of an argument: each target
// or stub in it becomes a new reference held by sc, released when the
// method returns.
func (r *Registry) holdIn(sc *link.Scope) clone.SwapFunc {
	return func(v reflect.Value) (reflect.Value, error) {
		s := r.reference(v.Interface())
		sc.Add(s)
		return reflect.ValueOf(s), nil
	}
}

// mayHoldRef reports whether a value of type t can hold a target or a stub
// anywhere in it, so that copying it may make references.
func mayHoldRef(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer:
		return t == stubType || isTarget(t) || mayHoldRef(t.Elem(), seen)
	case reflect.Slice, reflect.Array:
		return mayHoldRef(t.Elem(), seen)
	case reflect.Map:
		return mayHoldRef(t.Key(), seen) || mayHoldRef(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayHoldRef(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// copyResult copies res, a call's result, for the caller whose context is
// ctx: each target or stub in it becomes a new reference held by the
// caller's invocation.
func copyResult(ctx context.Context, ep *entrypoint, res any) (any, error) {
	switch res.(type) {
	case nil, bool, int, int64, float64, string:
		return res, nil
	}
	v := reflect.ValueOf(res)
	if needs, ok := copier.NeedsCopy(v.Type()); ok && !needs {
		return res, nil
	}
	out, err := copier.CopyValueSwap(v, func(v reflect.Value) (reflect.Value, error) {
		s := ep.worker.reg.reference(v.Interface())
		hold(ctx, s)
		return reflect.ValueOf(s), nil
	})
	if err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

// reference returns a new reference to a, a target or a stub: a target is
// exported, a stub duplicated.
func (r *Registry) reference(a any) *Stub {
	if s, ok := a.(*Stub); ok {
		return s.Dup()
	}
	return r.export(reflect.ValueOf(a))
}

// swapResult turns a result that crosses by reference into the caller's
// Stub, held by the caller's invocation (released when it ends) when there
// is one; outside any invocation the caller closes it (or Registry.Close
// does). ok is false for an ordinary result.
func (ep *entrypoint) swapResult(ctx context.Context, res any) (any, bool) {
	if b, ok := res.(*Binding); ok {
		if b == nil || b.via == nil {
			return nil, false
		}
		// A peer's binding that the callee received: the callee's
		// reference ends with its invocation, so the caller gets its own.
		d := b.via.Dup()
		hold(ctx, d)
		return bindingVia(d), true
	}
	if s, ok := res.(*Stub); ok && s == nil || !ok && !isTargetValue(res) {
		return nil, false
	}
	s := ep.worker.reg.reference(res)
	hold(ctx, s)
	return s, true
}

// hold gives s to the invocation ctx belongs to, to release when it ends.
func hold(ctx context.Context, s *Stub) {
	c := invocationOf(ctx)
	if c == nil {
		return
	}
	if c.inv.Held == nil {
		c.inv.Held = new(link.Scope)
	}
	c.inv.Held.Add(s)
}

// invocationOf returns the Ctx of the invocation ctx belongs to, or nil.
func invocationOf(ctx context.Context) *Ctx {
	if ctx == nil || isRoot(ctx) {
		return nil
	}
	if c, ok := ctx.(*Ctx); ok {
		if c != nil && c.inv.Entry != nil {
			return c
		}
		return nil
	}
	if c, ok := ctx.Value(ctxKey{}).(*Ctx); ok && c.inv.Entry != nil {
		return c
	}
	return nil
}
