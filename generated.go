package workers

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// This file is the runtime's side of package codegen, the API that code
// written by cmd/workersgen calls, and of the serving side of package
// remote. They reach it through package link, so that this package's
// documentation shows only what worker authors use.

func init() {
	link.Runtime = &link.Hooks[*Binding, *Ctx, *Env]{
		Begin:     beginGenerated,
		End:       endGenerated,
		Construct: constructGenerated,
		Copy: func(v reflect.Value) (reflect.Value, error) {
			c, err := copier.CopyValue(v)
			if err != nil {
				return c, newError(ErrInvalidArgument, "%v", err)
			}
			return c, nil
		},
		NeedsCopy: func(t reflect.Type) bool {
			needs, ok := copier.NeedsCopy(t)
			return needs || !ok
		},
		Method: (*Binding).describe,
		Local: func(b *Binding) (bool, error) {
			ep, err := b.resolve()
			return err == nil && ep.worker.remote == nil, err
		},
		NewStub: func(t link.Target) any { return newStub(foreign{t}) },
		Revoke: func(s any) {
			if s, ok := s.(*Stub); ok && s != nil && s.ref != nil {
				s.ref.revoke()
			}
		},
		Logger: func(b *Binding) *slog.Logger {
			if b == nil {
				return slog.Default()
			}
			return b.reg.logger()
		},
		Tasks: func(b *Binding) *link.Tasks { return &b.reg.tasks },
		Services: func(b *Binding) []string {
			b.reg.mu.RLock()
			defer b.reg.mu.RUnlock()
			return sortedKeys(b.reg.workers)
		},
		CallMethod: func(call any) (transport.MethodInfo, error) {
			ci := call.(*CallInfo)
			if ci.target == nil {
				return ci.b.describe(ci.Method)
			}
			return ci.target.info(ci.Method)
		},
		Uncopyable: uncopyable,
		CallRegistry: func(call any) any {
			if r := call.(*CallInfo).reg; r != nil {
				return r
			}
			return nil
		},
		Export:     exportFor,
		IsTarget:   isTarget,
		TargetOf:   targetOf,
		StubMethod: stubMethod,
		Hold: func(ctx context.Context, s any) bool {
			st, ok := s.(*Stub)
			if !ok || invocationOf(ctx) == nil {
				return false
			}
			hold(ctx, st)
			return true
		},
		Caller: func(ctx context.Context) context.Context {
			if c, ok := ctx.(*Ctx); ok && c != nil && c.inv.Parent != nil {
				return c.inv.Parent
			}
			return ctx
		},
		RegistryOf: func(ctx context.Context) any {
			if c := invocationOf(ctx); c != nil {
				return c.entry().worker.reg
			}
			return nil
		},
		Worker: func(ctx context.Context) string { return callerOf(ctx, "") },
		Depth: func(ctx context.Context) int {
			if ctx == nil || isRoot(ctx) {
				return 0
			}
			return depthOf(ctx)
		},
		Object:     hostedObject,
		BindingVia: func(s any) *Binding { return bindingVia(s.(*Stub)) },
		ViaOf: func(b *Binding) any {
			if b == nil || b.via == nil {
				return nil
			}
			return b.via
		},
	}
}

// exportFor is link.Hooks.Export.
func exportFor(ctx context.Context, reg, v any) (any, error) {
	if s, ok := v.(*Stub); ok {
		d := s.Dup()
		if !d.live() {
			return nil, errDisposed(s, "")
		}
		return d, nil
	}
	r, _ := reg.(*Registry)
	if r == nil {
		if c := invocationOf(ctx); c != nil {
			r = c.entry().worker.reg
		}
	}
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid() || !isTarget(rv.Type()) || rv.IsNil():
		return nil, newError(ErrInvalidArgument, "a %T is not an RpcTarget", v)
	case r == nil:
		return nil, newError(ErrInvalidArgument, "an RpcTarget (%T) crosses only in a call made through a registry", v)
	}
	return r.export(rv), nil
}

// targetOf is link.Hooks.TargetOf.
func targetOf(s any) link.Target {
	if st, ok := s.(*Stub); ok && st != nil && st.ref != nil {
		if f, ok := st.ref.target.(foreign); ok {
			return f.t
		}
	}
	return nil
}

// stubMethod is link.Hooks.StubMethod.
func stubMethod(s any, name string) (transport.MethodInfo, bool, error) {
	st, ok := s.(*Stub)
	if !ok || st == nil || st.ref == nil {
		return transport.MethodInfo{}, false, nil
	}
	t, ok := st.ref.target.(*localTarget)
	if !ok {
		return transport.MethodInfo{}, false, nil
	}
	m, err := t.ep.method(name)
	if err != nil {
		return transport.MethodInfo{}, true, err
	}
	return transport.MethodInfo{Name: m.Name, Params: append([]reflect.Type(nil), m.Params...), Variadic: m.Variadic, Result: m.Result}, true, nil
}

// foreign is a stub's target that a transport reaches: a peer's object.
// Calls through it pass the interceptors of the calling registry (see
// registry), as every call does.
type foreign struct{ t link.Target }

func (f foreign) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	if r := f.registry(ctx); r != nil && r.targetChain != nil {
		ci := &CallInfo{Target: f.t.Describe(), Method: method, Result: result, Remote: true, target: f}
		return r.interceptTarget(ctx, r.targetChain, ci, args)
	}
	return f.t.Call(ctx, method, args, result)
}

// registry is the registry that makes a call with ctx through the stub:
// that of the invocation ctx belongs to, else the one the transport made
// the stub in (a Target with a Registry method says which).
func (f foreign) registry(ctx context.Context) *Registry {
	if c := invocationOf(ctx); c != nil {
		if ep := c.entry(); ep != nil && ep.worker.reg != nil {
			return ep.worker.reg
		}
	}
	if rt, ok := f.t.(interface{ Registry() any }); ok {
		r, _ := rt.Registry().(*Registry)
		return r
	}
	return nil
}

// invoke is call past the interceptors.
func (f foreign) invoke(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	return f.t.Call(ctx, method, args, result)
}

// info describes any method: the peer decides what the target has.
func (f foreign) info(method string) (transport.MethodInfo, error) {
	return transport.MethodInfo{Name: method, Params: []reflect.Type{reflect.TypeFor[[]any]()}, Variadic: true, Result: reflect.TypeFor[any]()}, nil
}
func (f foreign) release()         { f.t.Release() }
func (f foreign) describe() string { return f.t.Describe() }

// attachDispatch gives each method of ep its fastest way to be called: the
// generated dispatcher when there is one (refusing a stale one), else a shim
// for common shapes; methods with neither are called by reflection.
func attachDispatch(ep *entrypoint) error {
	if v, ok := link.Dispatchers.Load(ep.ctor.typ); ok {
		d := v.(*link.Dispatcher)
		if got := ep.table.Hash(); got != d.Hash {
			return fmt.Errorf("%w: type %s: its generated code (workers_gen.go) is stale: the method set has changed since it was generated (hash %s, now %s); run go generate",
				ErrInvalidWorker, ep.ctor.typ, d.Hash, got)
		}
		for name, m := range ep.table.Methods {
			if m.Problem == "" {
				m.Fast = d.Methods[name]
			}
		}
		return nil
	}
	if ep.ctor.shim == nil {
		return nil
	}
	for _, m := range ep.table.Methods {
		if m.Problem == "" && len(m.Params) <= 2 {
			m.Fast = ep.ctor.shim(m.Func.Interface())
		}
	}
	return nil
}

// beginGenerated opens a call of a generated client for the worker type T
// (worker is a nil *T) through b. See codegen.Begin.
func beginGenerated(ctx context.Context, b *Binding, method string, worker any) (link.Invocation, *Env, int, error) {
	ep, err := b.resolve()
	if err != nil || !ep.runs(worker) || ep.worker.chain != nil {
		// By name, through workers.Call, which reports the error or runs
		// the interceptors.
		return link.Invocation{}, nil, link.Remote, nil
	}
	if ep.ctor.alloc == nil {
		return link.Invocation{}, nil, link.Construct, nil
	}
	var inv link.Invocation
	if err := b.reg.open(ctx, b.svc.Props, ep, method, &inv); err != nil {
		return link.Invocation{}, nil, link.Direct, err
	}
	return inv, ep.worker.env, link.Direct, nil
}

// endGenerated closes a call that beginGenerated opened and describes a
// panic of the callee.
func endGenerated(inv link.Invocation, method string, panicked any) error {
	ep := inv.Entry.(*entrypoint)
	inv.Held.End()
	ep.track.done()
	if panicked != nil {
		return ep.panicked(method, panicked)
	}
	return nil
}

// constructGenerated opens a call on a fresh instance of the entrypoint b
// targets, made by its NewFunc constructor, when that entrypoint is local
// and of the type worker names. See codegen.Invoke.
func constructGenerated(ctx context.Context, b *Binding, method string, worker any) (inst any, c *Ctx, local bool, err error) {
	ep, err := b.resolve()
	if err != nil || !ep.runs(worker) || ep.worker.chain != nil {
		return nil, nil, false, nil
	}
	c, inst, err = b.reg.begin(ctx, b, ep, method)
	if err != nil {
		return nil, nil, true, err
	}
	if inst, err = ep.constructOnce(c); err != nil {
		c.end()
		return nil, nil, true, err
	}
	return inst, c, true, nil
}

// constructOnce runs a NewFunc constructor, turning its panic into a
// *PanicError.
func (ep *entrypoint) constructOnce(c *Ctx) (inst any, err error) {
	defer ep.recoverPanic("", &err)
	return ep.construct(c)
}

// runs reports whether ep's worker type is T, given as a nil *T.
func (ep *entrypoint) runs(worker any) bool {
	return reflect.TypeOf(worker) == ep.ctor.ptr
}
