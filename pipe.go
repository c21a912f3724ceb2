package workers

import (
	"context"
	"fmt"
	"reflect"

	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// Pipe starts a call of method through c and returns at once a stub for its
// result, which may not exist yet: calls on the stub, and Pipes on it,
// travel with the first call, so over a network a chain of dependent calls
// costs one round trip, as env.S.makeCounter(12).increment(3) does in
// Workers:
//
//	n, err := workers.Call[int](ctx, workers.Pipe(ctx, b, "MakeCounter", 12), "Increment", 3)
//
// If the call fails, every call made or piped on its stub fails with that
// error (errors.Is holds), and nothing runs on the result that never
// existed. [Await] gives the call's own result. The stub follows the
// release rules of [Stub]; closing it releases the result (a target's
// reference) once it has arrived.
//
// In-process, Pipe makes the call before it returns, at the cost of a
// call and no goroutine. Over a transport that pipelines
// ([transport.Pipeliner], as package remote's sessions do) it only sends
// the call, for a Binding of a remote worker and for stubs of remote
// objects and of remote piped results alike; elsewhere (a unary-only
// transport, a binding with interceptors, which must see each call) it
// makes a plain call.
func Pipe(ctx context.Context, c Caller, method string, args ...any) *Stub {
	switch c := c.(type) {
	case *Stub:
		if c.live() {
			if pp, ok := c.ref.target.(piper); ok {
				if s := pp.pipe(ctx, method, args); s != nil {
					return s
				}
			}
		}
	case *Binding:
		if s := c.pipe(ctx, method, args); s != nil {
			return s
		}
	}
	t := &pipeTarget{method: method}
	if c == nil {
		t.err = newError(ErrServiceNotFound, "Pipe %q: nil Caller", method)
	} else {
		t.res, t.err = c.call(ctx, method, args, nil)
		t.where = label(c)
	}
	return heldStub(ctx, t)
}

// Await returns the result of the call that made s with [Pipe], as an R,
// with the conversions of [Call]. For a stub that Pipe did not make, the
// result is the stub itself: Await[*Stub] returns s.
func Await[R any](ctx context.Context, s *Stub) (R, error) {
	var zero R
	if !s.live() {
		return zero, errDisposed(s, "Await")
	}
	t, ok := s.ref.target.(awaiter)
	if !ok {
		if r, ok := any(s).(R); ok {
			return r, nil
		}
		return zero, newError(ErrInvalidResult, "Await: %s was not made by Pipe; its only result is itself, a *workers.Stub, not %s", s.ref.target.describe(), reflect.TypeFor[R]())
	}
	v, err := t.await(ctx, reflect.TypeFor[R]())
	if err != nil {
		return zero, err
	}
	if r, ok := v.(R); ok {
		return r, nil
	}
	cv, err := clone.Convert(v, reflect.TypeFor[R]())
	if err != nil {
		return zero, &callError{kind: ErrInvalidResult, msg: fmt.Sprintf("workers: %s: result: %v", s.ref.target.describe(), err)}
	}
	var r R
	reflect.ValueOf(&r).Elem().Set(cv)
	return r, nil
}

// piper is a stub's target that pipes calls itself, as a transport does
// for references held by a peer; pipe returns nil when it cannot, for Pipe
// to make a plain call.
type piper interface {
	pipe(ctx context.Context, method string, args []any) *Stub
}

// awaiter is a stub's target whose result is a piped call's. result is the
// type Await asks for, for a transport to decode into.
type awaiter interface {
	await(ctx context.Context, result reflect.Type) (any, error)
}

// pipeTarget is the result of a call made in-process by Pipe.
type pipeTarget struct {
	method string
	where  string // the caller the call went through, for messages
	res    any
	err    error
}

func (t *pipeTarget) await(context.Context, reflect.Type) (any, error) { return t.res, t.err }

func (t *pipeTarget) describe() string {
	return fmt.Sprintf("the piped result of %s method %q", t.where, t.method)
}

// call calls method on the piped result, which must be a stub.
func (t *pipeTarget) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	if t.err != nil {
		return nil, &pipeError{method: method, on: t.describe(), err: t.err}
	}
	s, ok := t.res.(*Stub)
	if !ok {
		kind := ErrMethodNotFound
		if t.res == nil {
			kind = ErrInvalidArgument
		}
		return nil, newError(kind, "%s method %q: the result is a %s, not an RpcTarget: it has no methods to call", t.describe(), method, typeName(t.res))
	}
	return s.call(ctx, method, args, result)
}

// release releases the result's reference, if it has one.
func (t *pipeTarget) release() {
	if s, ok := t.res.(*Stub); ok {
		s.Close()
	}
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// pipeError is the error of a call piped on a result that never existed:
// it unwraps to the error of the call that failed.
type pipeError struct {
	method, on string
	err        error
}

func (e *pipeError) Error() string {
	return fmt.Sprintf("workers: %s method %q: the piped call failed: %v", e.on, e.method, e.err)
}

func (e *pipeError) Unwrap() error { return e.err }

// pipe sends a call of a remote worker without waiting for it, when its
// transport pipelines; nil when Pipe is to make a plain call.
func (b *Binding) pipe(ctx context.Context, name string, args []any) *Stub {
	ep, err := b.resolve()
	if err != nil || ep.worker.remote == nil || ep.worker.chain != nil || b.reg.targetChain != nil {
		// Interceptors see every call, of the worker and of the stubs its
		// results are: plain calls, one at a time.
		return nil
	}
	pl, ok := ep.worker.remote.(transport.Pipeliner)
	if !ok {
		return nil
	}
	if err := checkCrossing(ep, name, args); err != nil {
		return failedPipe(ctx, ep.display, name, err)
	}
	c, _, err := b.reg.begin(ctx, b, ep, name)
	if err != nil {
		return failedPipe(ctx, ep.display, name, err)
	}
	p, ok := pl.Pipe(c, &transport.Call{
		Service: ep.worker.name, Entrypoint: ep.name, Method: name,
		Args: append([]any(nil), args...), Props: c.Props(), Depth: int(c.inv.Depth),
		Caller: callerOf(ctx, b.from),
	}, c.end)
	if !ok {
		c.end()
		return nil
	}
	return heldStub(ctx, remotePipe{p})
}

func failedPipe(ctx context.Context, where, method string, err error) *Stub {
	return heldStub(ctx, &pipeTarget{method: method, where: where, err: err})
}

// heldStub returns a stub of t, released when ctx's invocation ends (see
// hold): what every Pipe returns.
func heldStub(ctx context.Context, t stubTarget) *Stub {
	s := newStub(t)
	hold(ctx, s)
	return s
}

// remotePipe is the result of a call a transport pipelined: calls and
// Pipes on it travel behind the call, and Await waits for it.
type remotePipe struct{ p transport.Pending }

func (t remotePipe) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	return t.p.Call(ctx, method, args, result)
}

func (t remotePipe) pipe(ctx context.Context, method string, args []any) *Stub {
	return heldStub(ctx, remotePipe{t.p.Pipe(ctx, method, args)})
}

func (t remotePipe) await(ctx context.Context, result reflect.Type) (any, error) {
	return t.p.Await(ctx, result)
}

func (t remotePipe) release()         { t.p.Release() }
func (t remotePipe) describe() string { return t.p.Describe() }

// pipe pipes on a transport's reference when the transport can.
func (f foreign) pipe(ctx context.Context, method string, args []any) *Stub {
	pt, ok := f.t.(link.PipeTarget)
	if r := f.registry(ctx); !ok || r != nil && r.targetChain != nil {
		return nil // interceptors see each call on a remote stub
	}
	return heldStub(ctx, remotePipe{pt.Pipe(ctx, method, args)})
}
