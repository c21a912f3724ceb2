package workers

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
)

// Caller is what [Call] calls through: a [*Binding] (a fresh instance of a
// worker's entrypoint per call) or a [*Stub] (one object, by reference). It
// is sealed: only this package's types implement it.
type Caller interface {
	Call(ctx context.Context, method string, args ...any) (any, error)
	call(ctx context.Context, method string, args []any, result reflect.Type) (any, error)
}

var (
	_ Caller = (*Binding)(nil)
	_ Caller = (*Stub)(nil)
)

// Stub is a reference to an object that lives elsewhere: an [RpcTarget] a
// call returned or received, a callback, a Durable Object. Its calls run on
// that one object, in the process that made it, with every rule of a
// binding call (copies, error identity, panics, ctx, depth).
//
// A Stub holds its object alive until it is released: by [Stub.Close], or
// automatically (see [RpcTarget]). [Stub.Dup] makes a second reference that
// is released on its own. A call through a released Stub fails with
// [ErrDisposed]. A Stub is safe for concurrent use; the nil Stub fails every
// call with ErrDisposed.
type Stub struct {
	ref    *stubRef
	closed atomic.Bool
}

// stubRef is what all the Dups of one reference share: the target and the
// count of live references to it.
type stubRef struct {
	target stubTarget
	refs   atomic.Int64
	once   sync.Once
}

// stubTarget is what a Stub calls: an RpcTarget of this process, a
// reference held by a remote peer, a Durable Object, a piped result.
type stubTarget interface {
	// call runs method on the target; result is the type the caller asks
	// for ([Call]), or nil for any.
	call(ctx context.Context, method string, args []any, result reflect.Type) (any, error)
	// release is called once, after the last reference is released.
	release()
	// describe names the target in messages: `service "s" method "M" result (*pkg.Counter)`.
	describe() string
}

// newStub returns the first reference to t.
func newStub(t stubTarget) *Stub {
	ref := &stubRef{target: t}
	ref.refs.Store(1)
	return &Stub{ref: ref}
}

// Call calls method on the object s refers to with args and returns its
// result, as [Binding.Call] does for a fresh instance.
func (s *Stub) Call(ctx context.Context, method string, args ...any) (any, error) {
	return s.call(ctx, method, args, nil)
}

func (s *Stub) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	if !s.live() {
		return nil, errDisposed(s, method)
	}
	if t, ok := s.ref.target.(*durableTarget); ok {
		// A static call, so that args stays on the caller's stack: an
		// allocation is a good part of a call to a live Durable Object.
		return t.call(ctx, method, args, result)
	}
	// Through the interface args escapes: a copy, so that it escapes here
	// and not at every call site.
	return s.ref.target.call(ctx, method, append([]any(nil), args...), result)
}

// live reports whether s may still be used: it is not closed, and its
// target was not revoked (by Registry.Close, or the end of a session).
func (s *Stub) live() bool {
	return s != nil && s.ref != nil && !s.closed.Load() && s.ref.refs.Load() > 0
}

// Dup returns a second reference to the object s refers to, released on its
// own: the object stays alive until both are released. Dup of a released
// Stub returns a released Stub.
func (s *Stub) Dup() *Stub {
	if s == nil || s.ref == nil {
		return released(nil)
	}
	if s.closed.Load() {
		return released(s.ref)
	}
	if d := s.ref.dup(); d != nil {
		return d
	}
	return released(s.ref)
}

// dup returns a new reference, or nil once the last one was released.
func (ref *stubRef) dup() *Stub {
	for {
		n := ref.refs.Load()
		if n <= 0 {
			return nil
		}
		if ref.refs.CompareAndSwap(n, n+1) {
			return &Stub{ref: ref}
		}
	}
}

// revoke releases the target now, whatever references are left: they fail
// with ErrDisposed from then on.
func (ref *stubRef) revoke() {
	ref.refs.Store(0)
	ref.once.Do(ref.target.release)
}

// Close releases this reference. When it was the last one, the object's
// Dispose method, if it has one, runs. Close is idempotent and always
// returns nil; the error result lets a Stub serve as an io.Closer.
func (s *Stub) Close() error {
	if s == nil || s.ref == nil || !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.ref.refs.Add(-1) <= 0 {
		s.ref.once.Do(s.ref.target.release)
	}
	return nil
}

func (s *Stub) String() string {
	if s == nil || s.ref == nil {
		return "workers.Stub(nil)"
	}
	return "workers.Stub(" + s.ref.target.describe() + ")"
}

func errDisposed(s *Stub, method string) error {
	where := "stub"
	if s != nil && s.ref != nil {
		where = s.ref.target.describe()
	}
	return newError(ErrDisposed, "%s method %q: RPC stub used after being disposed.", where, method)
}

// released returns a Stub to ref that is already released.
func released(ref *stubRef) *Stub {
	s := &Stub{ref: ref}
	s.closed.Store(true)
	return s
}
