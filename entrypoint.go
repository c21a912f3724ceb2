package workers

import (
	"fmt"
	"reflect"

	"github.com/seed-29c11ff2/workers/internal/shim"
)

// Entrypoint is the base every worker type embeds, as a Workers class
// extends WorkerEntrypoint:
//
//	type WorkerB struct{ workers.Entrypoint }
//
//	func (w *WorkerB) Add(a, b int) int { return a + b }
//
// The runtime makes a fresh instance for every invocation and fills Env and
// Ctx before the method runs, so nothing persists between calls. Nothing of
// Entrypoint itself is callable over RPC.
type Entrypoint struct {
	Env *Env // the worker's bindings, shared by all its invocations
	Ctx *Ctx // this invocation's lifecycle: context, WaitUntil, Props
}

// base is promoted to *T exactly when T embeds one Entrypoint unambiguously,
// which check asks of every worker type; the call path reaches the
// Entrypoint of an instance through it.
func (e *Entrypoint) base() *Entrypoint { return e }

type embedsEntrypoint interface{ base() *Entrypoint }

var (
	entrypointType = reflect.TypeFor[Entrypoint]()
	embedsType     = reflect.TypeFor[embedsEntrypoint]()
)

// A Constructor makes a fresh instance of a worker type for each invocation.
// Make one with [New] or [NewFunc]; the zero Constructor means "none" (a
// worker without a default entrypoint).
type Constructor struct {
	typ   reflect.Type           // the struct type T
	ptr   reflect.Type           // *T, which generated clients name
	alloc func(*Env) (any, *Ctx) // New: a zero *T and its Ctx in one allocation, filled
	fn    func() any             // NewFunc: a *T from the user's function, or a nil any
	shim  func(any) shim.Func    // shim.For[*T]: fast calls for common method shapes
	bad   string                 // why this constructor cannot be registered
}

// New returns a Constructor that makes a zero T for each invocation.
// T must be a struct type that embeds [Entrypoint].
func New[T any]() Constructor {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		return Constructor{typ: t, bad: fmt.Sprintf("New[%s]: use New[%s], the struct type, not a pointer to it", t, t.Elem())}
	}
	return Constructor{typ: t, ptr: reflect.TypeFor[*T](), alloc: allocInvocation[T], shim: shim.For[*T]}
}

// NewFunc returns a Constructor that calls fn for each invocation. fn must
// return a fresh *T every time: an instance is never shared between calls.
// Use it when a zero T is not ready to serve, for example to fill fields
// from a closure.
func NewFunc[T any](fn func() *T) Constructor {
	t := reflect.TypeFor[T]()
	if fn == nil {
		return Constructor{typ: t, bad: fmt.Sprintf("NewFunc[%s]: nil function", t)}
	}
	return Constructor{
		typ: t,
		ptr: reflect.TypeFor[*T](),
		fn: func() any {
			if p := fn(); p != nil {
				return p
			}
			return nil
		},
		shim: shim.For[*T],
	}
}

// invocation holds one invocation's Ctx and instance, allocated together:
// an invocation costs one allocation, not two.
type invocation[T any] struct {
	c Ctx
	w T
}

// allocInvocation makes an instance of T with its Ctx, its Entrypoint
// filled. check has made sure that *T has the promoted base method.
func allocInvocation[T any](env *Env) (any, *Ctx) {
	inv := new(invocation[T])
	p := any(&inv.w)
	fill(p, env, &inv.c)
	return p, &inv.c
}

// fill sets the Env and Ctx of the instance p, a *T.
func fill(p any, env *Env, c *Ctx) {
	base := p.(embedsEntrypoint).base()
	base.Env, base.Ctx = env, c
}

// IsZero reports whether c is the zero Constructor.
func (c Constructor) IsZero() bool {
	return c.typ == nil && c.alloc == nil && c.fn == nil && c.bad == ""
}

// Type returns the worker type that c constructs, or nil for the zero
// Constructor.
func (c Constructor) Type() reflect.Type { return c.typ }

// check reports why c cannot be registered, naming the type.
func (c Constructor) check() error {
	if c.bad != "" {
		return fmt.Errorf("%w: %s", ErrInvalidWorker, c.bad)
	}
	if c.typ == nil || (c.alloc == nil && c.fn == nil) {
		return fmt.Errorf("%w: empty Constructor: make one with workers.New or workers.NewFunc", ErrInvalidWorker)
	}
	if c.typ.Kind() != reflect.Struct {
		return fmt.Errorf("%w: type %s is not a struct embedding workers.Entrypoint", ErrInvalidWorker, c.typ)
	}
	if !reflect.PointerTo(c.typ).Implements(embedsType) {
		return fmt.Errorf("%w: type %s does not embed workers.Entrypoint", ErrInvalidWorker, c.typ)
	}
	if viaPointer, ok := findEntrypoint(c.typ); !ok || viaPointer {
		return fmt.Errorf("%w: type %s embeds *workers.Entrypoint; embed workers.Entrypoint by value so each instance gets its own", ErrInvalidWorker, c.typ)
	}
	return nil
}

// findEntrypoint looks for the embedded Entrypoint breadth first, as Go's
// promotion rules do, and says whether it is reached through a pointer.
func findEntrypoint(t reflect.Type) (viaPointer, ok bool) {
	return findEmbedded(t, entrypointType)
}
