// Package codegen is what code written by cmd/workersgen calls: typed
// clients and reflection-free dispatchers. Worker authors do not call it by
// hand; it is a package of its own so that package workers documents only
// what they write.
//
// A generated file refers to [Version3], so that a file from an
// incompatible workersgen fails to compile instead of misbehaving, and it
// records a hash of each worker type's method set, so that
// workers.Registry.Register refuses a type whose methods changed since the
// file was generated.
package codegen

import (
	"context"
	"reflect"
	"unsafe"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/shim"
)

// Version3 is referred to by code that workersgen writes. (Version 2 was
// in package workers itself; version 1 called a generic Begin.)
const Version3 = 3

var rt = link.Runtime.(*link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env])

// Args are the arguments of one call, already converted to the method's
// parameter types and copied; a dispatcher reads them with At.
type Args = shim.Args

// Dispatcher is a reflection-free method table for the worker type T.
// Hash digests T's RPC method set as it was when the code was generated.
type Dispatcher[T any] struct {
	Hash    string
	Methods map[string]func(w *T, ctx context.Context, args Args) (any, error)
}

// Register records the generated dispatcher of T; the registry uses it for
// every worker of type T registered afterwards. Generated code calls it
// from an init function.
func Register[T any](d Dispatcher[T]) {
	fns := make(map[string]shim.Func, len(d.Methods))
	for name, fn := range d.Methods {
		fns[name] = func(recv any, ctx context.Context, args Args) (any, error) {
			return fn(recv.(*T), ctx, args)
		}
	}
	link.Dispatchers.Store(reflect.TypeFor[T](), &link.Dispatcher{Hash: d.Hash, Methods: fns})
}

// Mode says how a generated client makes a call; [Begin] decides it.
type Mode int

const (
	// Direct: the client calls the method on a zero instance it holds
	// itself, which the compiler keeps on the stack when nothing retains it.
	Direct Mode = link.Direct
	// Construct: the worker has a workers.NewFunc constructor; the client
	// calls through [Invoke], which runs it.
	Construct Mode = link.Construct
	// Remote: the target is not a local worker of this type (a remote
	// worker, another type, an unknown service); the client calls through
	// workers.Call, which reports any error.
	Remote Mode = link.Remote
)

// Begin opens a call of a generated client for the worker type T through b
// on the invocation context c, which the client holds next to a zero
// instance of T; worker is a nil *T, which names T. With mode Direct it
// returns the Env to fill the instance with, and the client must defer
// [End]. It applies all the runtime's rules for a call (context, depth,
// props, Close); err is a call that cannot start.
func Begin(ctx context.Context, b *workers.Binding, method string, c *workers.Ctx, worker any) (env *workers.Env, mode Mode, err error) {
	inv, env, m, err := rt.Begin(ctx, b, method, worker)
	if err == nil && m == link.Direct {
		*invocation(c) = inv
	}
	return env, Mode(m), err
}

// End closes a call that [Begin] opened, turning a panic of the callee into
// a *workers.PanicError in *err. Generated clients defer it directly.
func End(c *workers.Ctx, method string, err *error) {
	if e := rt.End(*invocation(c), method, recover()); e != nil {
		*err = e
	}
}

// invocation returns the link.Invocation that is the first field of *c.
//
// This is the one use of unsafe on the call path, within the Go spec's
// rule for converting a *T1 to a *T2 of the same layout (a struct and its
// first field). It is what lets a typed client keep its Ctx on its stack:
// handing the Ctx to the runtime through a func value, the only other way
// across packages, makes it escape, which costs every call four
// allocations (BenchmarkAdd/typed_client in bench/).
func invocation(c *workers.Ctx) *link.Invocation {
	return (*link.Invocation)(unsafe.Pointer(c))
}

// Invoke calls fn on a fresh instance of the entrypoint b targets, with all
// the runtime's rules for a call (context, depth, props, Close, panics), when
// that entrypoint is local and of type T. local is false otherwise, and the
// generated client then calls through workers.Call.
func Invoke[T any](ctx context.Context, b *workers.Binding, method string, fn func(w *T, ctx context.Context) error) (local bool, err error) {
	inst, c, local, err := rt.Construct(ctx, b, method, (*T)(nil))
	if !local || err != nil {
		return local, err
	}
	defer End(c, method, &err)
	return true, fn(inst.(*T), c)
}

// Copy returns a copy of v with the copy semantics of a call (see
// workers.Binding.Call). Generated clients copy arguments and results with
// it.
func Copy[V any](v V) (V, error) {
	switch any(v).(type) {
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, string:
		return v, nil
	}
	if !rt.NeedsCopy(reflect.TypeFor[V]()) {
		return v, nil
	}
	var out V
	c, err := rt.Copy(reflect.ValueOf(&v).Elem())
	if err != nil {
		return out, err
	}
	reflect.ValueOf(&out).Elem().Set(c)
	return out, nil
}
