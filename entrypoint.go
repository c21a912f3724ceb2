package workers

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/iface"
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
// which check asks of every worker type; the call path then reaches the
// Entrypoint by the offset findEntrypoint gives.
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
	typ   reflect.Type                // the struct type T
	id    unsafe.Pointer              // identifies T for generated clients: iface.TypeID of *T
	alloc func() *Ctx                 // New: a Ctx and a zero T in one allocation, the T at inst from it
	fn    func() unsafe.Pointer       // NewFunc: a *T from the user's function, or nil
	box   func(unsafe.Pointer) any    // a *T as an interface, for reflection and Fetch
	shim  func(any) (shim.Func, bool) // shim.For[*T]: fast calls for common method shapes
	inst  uintptr                     // New: the offset of the T from its Ctx
	base  uintptr                     // the offset of the embedded Entrypoint in a T
	bad   string                      // why this constructor cannot be registered
}

// The call path handles instances as unsafe.Pointers to a T, found by the
// offsets a Constructor records: an interface assertion to find the
// Entrypoint, or an interface to hold the receiver, costs a good part of a
// call. check refuses a type whose Entrypoint cannot be found by offset.

// New returns a Constructor that makes a zero T for each invocation.
// T must be a struct type that embeds [Entrypoint].
func New[T any]() Constructor {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		return Constructor{typ: t, bad: fmt.Sprintf("New[%s]: use New[%s], the struct type, not a pointer to it", t, t.Elem())}
	}
	var inv invocation[T]
	return Constructor{
		typ:   t,
		id:    iface.TypeID(reflect.TypeFor[*T]()),
		alloc: allocInvocation[T],
		box:   boxOf[T],
		shim:  shim.For[*T],
		inst:  unsafe.Offsetof(inv.w),
		base:  entrypointOffset(t),
	}
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
		typ:  t,
		id:   iface.TypeID(reflect.TypeFor[*T]()),
		fn:   func() unsafe.Pointer { return unsafe.Pointer(fn()) },
		box:  boxOf[T],
		shim: shim.For[*T],
		base: entrypointOffset(t),
	}
}

// invocation holds one invocation's Ctx and instance, allocated together.
type invocation[T any] struct {
	c Ctx
	w T
}

func allocInvocation[T any]() *Ctx { return &new(invocation[T]).c }

func boxOf[T any](p unsafe.Pointer) any { return (*T)(p) }

// entrypointOffset returns where the embedded Entrypoint lies in t, or 0
// when it cannot be found by offset (then check refuses t).
func entrypointOffset(t reflect.Type) uintptr {
	if t.Kind() != reflect.Struct {
		return 0
	}
	off, viaPointer, ok := findEntrypoint(t)
	if !ok || viaPointer {
		return 0
	}
	return off
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
	if _, viaPointer, ok := findEntrypoint(c.typ); !ok || viaPointer {
		return fmt.Errorf("%w: type %s embeds *workers.Entrypoint; embed workers.Entrypoint by value so each instance gets its own", ErrInvalidWorker, c.typ)
	}
	return nil
}

// findEntrypoint looks for the embedded Entrypoint breadth first, as Go's
// promotion rules do, and says whether it is reached through a pointer and,
// when it is not, at which offset in t it lies.
func findEntrypoint(t reflect.Type) (offset uintptr, viaPointer, ok bool) {
	type node struct {
		t   reflect.Type
		ptr bool
		off uintptr
	}
	level := []node{{t: t}}
	seen := map[reflect.Type]bool{}
	for len(level) > 0 {
		var next []node
		for _, n := range level {
			if seen[n.t] {
				continue
			}
			seen[n.t] = true
			for i := range n.t.NumField() {
				f := n.t.Field(i)
				if !f.Anonymous {
					continue
				}
				ft, ptr := f.Type, n.ptr
				if ft.Kind() == reflect.Pointer {
					ft, ptr = ft.Elem(), true
				}
				if ft == entrypointType {
					return n.off + f.Offset, ptr, true
				}
				if ft.Kind() == reflect.Struct {
					next = append(next, node{t: ft, ptr: ptr, off: n.off + f.Offset})
				}
			}
		}
		level = next
	}
	return 0, false, false
}
