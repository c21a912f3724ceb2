package workers

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/cell"
	"github.com/seed-29c11ff2/workers/internal/iface"
	"github.com/seed-29c11ff2/workers/internal/shim"
)

// This file is the API that code written by cmd/workersgen calls. Users do
// not call it by hand.

// GeneratedV2 is referred to by code that workersgen writes, so that a file
// from an incompatible workersgen fails to compile. (Version 1 called a
// generic Begin.)
const GeneratedV2 = 2

// Args are the arguments of one call, already converted to the method's
// parameter types and copied; a dispatcher reads them with At.
type Args = shim.Args

// Dispatcher is a reflection-free method table for the worker type T,
// written by workersgen. Hash digests T's RPC method set as it was when the
// code was generated: [Registry.Register] refuses T when its methods have
// changed since, so stale generated code never calls the wrong method.
type Dispatcher[T any] struct {
	Hash    string
	Methods map[string]func(w *T, ctx context.Context, args Args) (any, error)
}

type dispatcher struct {
	hash    string
	methods map[string]shim.Func
}

var dispatchers sync.Map // reflect.Type of T -> *dispatcher

// RegisterDispatcher records the generated dispatcher of T; the registry
// uses it for every worker of type T registered afterwards. Generated code
// calls it from an init function.
func RegisterDispatcher[T any](d Dispatcher[T]) {
	fns := make(map[string]shim.Func, len(d.Methods))
	for name, fn := range d.Methods {
		fns[name] = func(recv unsafe.Pointer, ctx context.Context, args Args) (any, uint64, error) {
			res, err := fn((*T)(recv), ctx, args)
			return res, 0, err
		}
	}
	dispatchers.Store(reflect.TypeFor[T](), &dispatcher{hash: d.Hash, methods: fns})
}

// attachDispatch gives each method of ep its fastest way to be called: the
// generated dispatcher when there is one (refusing a stale one), else a shim
// for common shapes; methods with neither are called by reflection.
func attachDispatch(ep *entrypoint) error {
	if v, ok := dispatchers.Load(ep.ctor.typ); ok {
		d := v.(*dispatcher)
		if got := ep.table.Hash(); got != d.hash {
			return fmt.Errorf("%w: type %s: its generated code (workers_gen.go) is stale: the method set has changed since it was generated (hash %s, now %s); run go generate",
				ErrInvalidWorker, ep.ctor.typ, d.hash, got)
		}
		for name, m := range ep.table.Methods {
			if m.Problem == "" {
				m.Fast = d.methods[name]
			}
		}
		return nil
	}
	if ep.ctor.shim == nil {
		return nil
	}
	for _, m := range ep.table.Methods {
		if m.Problem != "" || len(m.Params) > 2 {
			continue
		}
		var bits, ok bool
		if m.Fast, bits = ep.ctor.shim(m.Func.Interface()); bits {
			if m.Bits, ok = cell.TypeOf(m.Result); !ok {
				return fmt.Errorf("workers: internal error: the shim of %s.%s returns a %s as bits", ep.ctor.typ, m.Name, m.Result)
			}
		}
	}
	return nil
}

// Mode says how a generated client makes a call; [Begin] decides it.
type Mode int

const (
	// Direct: the client calls the method on a zero instance it holds
	// itself, which the compiler keeps on the stack when nothing retains it.
	Direct Mode = iota
	// Construct: the worker has a [NewFunc] constructor; the client calls
	// through [Invoke], which runs it.
	Construct
	// Remote: the target is not a local worker of this type (a remote
	// worker, another type, an unknown service); the client calls through
	// [Binding.Call], which reports any error.
	Remote
)

// Begin opens a call of a generated client for the worker type T through b
// on the invocation context c, which the client holds next to a zero
// instance of T; worker is a nil *T, which names T with no reflection and
// no generic code to run. With mode Direct it returns the Env to fill the
// instance with, and the client must defer [End]. It applies all the
// runtime's rules for a call (context, depth, props, Close); err is a call
// that cannot start.
func Begin(ctx context.Context, b *Binding, method string, c *Ctx, worker any) (env *Env, mode Mode, err error) {
	ep, err := b.resolve()
	if err != nil || !ep.runs(worker) {
		return nil, Remote, nil
	}
	if ep.ctor.alloc == nil {
		return nil, Construct, nil
	}
	if err := b.reg.open(ctx, b, ep, method, c); err != nil {
		return nil, Direct, err
	}
	return ep.worker.env, Direct, nil
}

// End closes a call that [Begin] opened, turning a panic of the callee into
// a *[PanicError] in *err. Generated clients defer it.
func End(c *Ctx, method string, err *error) {
	if v := recover(); v != nil {
		*err = c.ep.panicked(method, v)
	}
	c.end()
}

// Invoke calls fn on a fresh instance of the entrypoint b targets, with all
// the runtime's rules for a call (context, depth, props, Close, panics), when
// that entrypoint is local and of type T. local is false otherwise (a remote
// worker, another type, an unknown service), and the generated client then
// calls through [Binding.Call], which reports any error. Generated typed
// clients call it.
func Invoke[T any](ctx context.Context, b *Binding, method string, fn func(w *T, ctx context.Context) error) (local bool, err error) {
	ep, err := b.resolve()
	if err != nil || !ep.runs((*T)(nil)) {
		return false, nil
	}
	c, inst, err := b.reg.begin(ctx, b, ep, method)
	if err != nil {
		return true, err
	}
	defer ep.finish(c, method, &err)
	inst, err = ep.instance(c, inst)
	if err != nil {
		return true, err
	}
	return true, fn((*T)(inst), c)
}

// runs reports whether ep's worker type is T, given as a nil *T: the type
// word of that interface is the identity New and NewFunc recorded.
func (ep *entrypoint) runs(worker any) bool {
	return ep.ctor.id == iface.Tab(unsafe.Pointer(&worker))
}

// ResultInt returns r as an any, boxed as the runtime boxes the int results
// of its own calls: in a cell shared with other results instead of an
// allocation of its own. ctx is the context the dispatcher was given.
// Generated dispatchers call it.
func ResultInt(ctx context.Context, r int) any {
	if b := resultBoxes(ctx); b != nil && intCell.Valid() { // not where int is 32 bits
		return b.Box(intCell, uint64(r))
	}
	return r
}

// ResultInt64 is [ResultInt] for int64 results.
func ResultInt64(ctx context.Context, r int64) any {
	if b := resultBoxes(ctx); b != nil {
		return b.Box(int64Cell, uint64(r))
	}
	return r
}

// ResultFloat64 is [ResultInt] for float64 results.
func ResultFloat64(ctx context.Context, r float64) any {
	if b := resultBoxes(ctx); b != nil {
		return b.Box(float64Cell, math.Float64bits(r))
	}
	return r
}

var (
	intCell, _     = cell.TypeOf(reflect.TypeFor[int]())
	int64Cell, _   = cell.TypeOf(reflect.TypeFor[int64]())
	float64Cell, _ = cell.TypeOf(reflect.TypeFor[float64]())
)

// resultBoxes returns the cells of the invocation ctx, or nil when ctx is
// not one.
func resultBoxes(ctx context.Context) *cell.Boxes {
	c, ok := ctx.(*Ctx)
	if !ok || c == nil || c.ep == nil { // a Ctx of ContextWithDepth has none
		return nil
	}
	return c.boxes()
}

// Copy returns a copy of v with the copy semantics of a call (see
// [Binding.Call]). Generated clients copy arguments and results with it.
func Copy[V any](v V) (V, error) {
	switch any(v).(type) {
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, string:
		return v, nil
	}
	if needs, ok := copier.NeedsCopy(reflect.TypeFor[V]()); ok && !needs {
		return v, nil
	}
	var out V
	c, err := copier.CopyValue(reflect.ValueOf(&v).Elem())
	if err != nil {
		return out, newError(ErrInvalidArgument, "%v", err)
	}
	reflect.ValueOf(&out).Elem().Set(c)
	return out, nil
}
