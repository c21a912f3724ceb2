package workers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/seed-29c11ff2/workers/internal/method"
)

// A Transport carries invocations to a worker that runs in another process,
// so that bindings to it work unchanged: [Registry.RegisterRemote] puts it
// under a service name. Package remote provides one over connect-go.
type Transport interface {
	// Call runs one RPC call remotely and returns its result, decoded into
	// call.Result when that is set.
	Call(ctx context.Context, call *RemoteCall) (any, error)
	// Fetch sends req to the remote worker's Fetch.
	Fetch(ctx context.Context, call *RemoteCall, req *http.Request) (*http.Response, error)
}

// RemoteCall is one invocation as a [Transport] carries it.
type RemoteCall struct {
	Service    string       // the service name the caller bound to
	Entrypoint string       // "" for the default entrypoint
	Method     string       // "" for Fetch
	Args       []any        // as the caller passed them
	Props      any          // the binding's props
	Depth      int          // this invocation's depth in its call chain
	Result     reflect.Type // the result type the caller wants ([Call]), or nil for any
}

// RegisterRemote registers a worker that runs elsewhere under name, reached
// through t. Bindings to name, with any entrypoint, go through t; whether the
// entrypoint and method exist is decided by the remote side. When t is also
// an [io.Closer], [Registry.Close] closes it once calls have drained.
func (r *Registry) RegisterRemote(name string, t Transport) error {
	if name == "" {
		return fmt.Errorf("%w: empty worker name", ErrInvalidWorker)
	}
	if t == nil {
		return fmt.Errorf("%w: remote worker %q: nil Transport", ErrInvalidWorker, name)
	}
	if r.track.closed() {
		return fmt.Errorf("register worker %q: %w", name, ErrClosed)
	}
	wk := &worker{name: name, remote: t, reg: r}
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
	c, _, err := r.begin(ctx, b, ep, name)
	if err != nil {
		return nil, err
	}
	defer c.end()
	return ep.worker.remote.Call(c, &RemoteCall{
		Service: ep.worker.name, Entrypoint: ep.name, Method: name,
		Args: args, Props: c.Props(), Depth: int(c.depth), Result: result,
	})
}

// ContextWithDepth returns a context in which calls count as made by an
// invocation at the given depth of its call chain. A transport's serving
// side uses it so that the depth limit spans processes.
func ContextWithDepth(ctx context.Context, depth int) context.Context {
	return &Ctx{parent: ctx, depth: int16(min(max(depth, 0), maxMaxDepth))}
}

// MethodInfo describes an RPC method, for a transport that decodes
// arguments straight into their parameter types.
type MethodInfo struct {
	Name     string
	Params   []reflect.Type // after an optional context; the last is a slice when Variadic
	Variadic bool
	Result   reflect.Type // nil when the method returns no value
}

// Method describes the RPC method name of the entrypoint b targets, with
// the errors a call would give: [ErrServiceNotFound],
// [ErrEntrypointNotFound], [ErrMethodNotFound], [ErrReservedMethod].
func (b *Binding) Method(name string) (MethodInfo, error) {
	ep, err := b.resolve()
	if err != nil {
		return MethodInfo{}, err
	}
	if ep.worker.remote != nil {
		return MethodInfo{}, newError(ErrMethodNotFound, "%s is remote: its methods are described where it runs", ep.display)
	}
	m, err := ep.method(name)
	if err != nil {
		return MethodInfo{}, err
	}
	return info(m), nil
}

func info(m *method.Method) MethodInfo {
	return MethodInfo{Name: m.Name, Params: append([]reflect.Type(nil), m.Params...), Variadic: m.Variadic, Result: m.Result}
}
