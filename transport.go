package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/transport"
)

// RegisterRemote registers a worker that runs elsewhere under name, reached
// through t (package remote provides one; see package transport to write
// another). Bindings to name, with any entrypoint, go through t; whether the
// entrypoint and method exist is decided by the remote side. When t is also
// an [io.Closer], [Registry.Close] closes it once calls have drained.
func (r *Registry) RegisterRemote(name string, t transport.Transport) error {
	if name == "" {
		return fmt.Errorf("%w: empty worker name", ErrInvalidWorker)
	}
	if t == nil {
		return fmt.Errorf("%w: remote worker %q: nil Transport", ErrInvalidWorker, name)
	}
	if r.track.closed() {
		return fmt.Errorf("register worker %q: %w", name, ErrClosed)
	}
	wk := &worker{name: name, remote: t, reg: r, chain: r.targetChain}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.workers[name]; dup {
		return fmt.Errorf("%w: a worker named %q is already registered", ErrInvalidWorker, name)
	}
	r.workers[name] = wk
	if c, ok := t.(io.Closer); ok {
		// Its connections are released with the registry's own bindings.
		r.closers = append(r.closers, c)
	}
	return nil
}

// remoteEntrypoint is what a binding to a remote worker resolves to.
func (wk *worker) remoteEntrypoint(name string) *entrypoint {
	ep := &entrypoint{worker: wk, track: wk.reg.track, name: name, display: fmt.Sprintf("service %q", wk.name)}
	if name != "" {
		ep.display += fmt.Sprintf(" entrypoint %q", name)
	}
	return ep
}

// callRemote sends a call through the transport of a remote worker, after
// the same checks a local call makes.
func (r *Registry) callRemote(ctx context.Context, b *Binding, ep *entrypoint, name string, args []any, result reflect.Type) (any, error) {
	if err := checkCrossing(ep, name, args); err != nil {
		return nil, err
	}
	c, _, err := r.begin(ctx, b, ep, name)
	if err != nil {
		return nil, err
	}
	defer c.end()
	return ep.worker.remote.Call(c, &transport.Call{
		Service: ep.worker.name, Entrypoint: ep.name, Method: name,
		Args: args, Props: c.Props(), Depth: int(c.inv.Depth), Result: result,
		Caller: callerOf(ctx, b.from),
	})
}

// checkCrossing refuses, before a transport encodes them, arguments that
// could not cross in-process either (a struct with unexported data, a
// channel), with the same error, so that moving a worker to another process
// changes nothing. References (targets, stubs) are the transport's to carry.
func checkCrossing(ep *entrypoint, method string, args []any) error {
	if i, err := uncopyable(args); err != nil {
		return &callError{kind: ErrInvalidArgument, cause: err,
			msg: fmt.Sprintf("workers: %s method %q: argument %d: %v", ep.display, method, i, err)}
	}
	return nil
}

// uncopyable returns the first of args that could not cross in-process,
// and why. It walks each argument without copying it ([clone.Copier.Check]).
func uncopyable(args []any) (int, error) {
	for i, a := range args {
		if a == nil {
			continue
		}
		if err := copier.Check(reflect.ValueOf(a)); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// describe describes the RPC method name of the entrypoint b targets, with
// the errors a call would give, for a transport's serving side.
func (b *Binding) describe(name string) (transport.MethodInfo, error) {
	ep, err := b.resolve()
	if err != nil {
		return transport.MethodInfo{}, err
	}
	if ep.worker.remote != nil {
		return transport.MethodInfo{}, newError(ErrMethodNotFound, "%s is remote: its methods are described where it runs", ep.display)
	}
	m, err := ep.method(name)
	if err != nil {
		if ep.worker.chain != nil && errors.Is(err, ErrMethodNotFound) {
			// Not a method of the worker, but its interceptors (a fake, a
			// policy) may answer it: any arguments, any result. Without
			// one, the call fails with this error.
			return transport.MethodInfo{Name: name, Params: []reflect.Type{reflect.TypeFor[[]any]()}, Variadic: true, Result: reflect.TypeFor[any]()}, nil
		}
		return transport.MethodInfo{}, err
	}
	return methodInfo(m), nil
}

func methodInfo(m *method.Method) transport.MethodInfo {
	return transport.MethodInfo{Name: m.Name, Params: append([]reflect.Type(nil), m.Params...), Variadic: m.Variadic, Result: m.Result}
}
