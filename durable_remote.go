package workers

import (
	"context"
	"reflect"

	"github.com/seed-29c11ff2/workers/transport"
)

// A namespace whose script_name is a worker registered with
// [Registry.RegisterRemote] is hosted by that worker's process: its IDs
// are made here (they depend only on the worker's and the class's names,
// so both sides make the same), and its calls travel through the worker's
// transport, which must be a [transport.DurableObjectTransport] (package
// remote's is), to the one object of the ID in the hosting process.

// callRemote is call for an object hosted by the remote worker host.
func (t *durableTarget) callRemote(ctx context.Context, host *worker, method string, args []any, result reflect.Type) (any, error) {
	if err := t.checkRemote(method); err != nil {
		return nil, err
	}
	if ch := host.chain; ch != nil {
		ci := &CallInfo{Service: host.name, Target: t.ns.b.ClassName, Method: method, Result: result, Remote: true, target: t}
		return host.reg.interceptTarget(ctx, ch, ci, args)
	}
	return t.invokeRemote(ctx, host, method, args, result)
}

// checkRemote refuses, before anything is sent, a call that names no
// object of the namespace.
func (t *durableTarget) checkRemote(method string) error {
	switch {
	case t.id.IsZero():
		return newError(ErrInvalidArgument, "%s method %q: the zero DurableObjectID names no object", t.ns.display, method)
	case !t.id.belongs(&t.ns.key):
		return newError(ErrInvalidArgument, "%s method %q: ID %s is an ID of another namespace", t.ns.display, method, t.id)
	}
	return nil
}

// invokeRemote is callRemote past the interceptors.
func (t *durableTarget) invokeRemote(ctx context.Context, host *worker, method string, args []any, result reflect.Type) (any, error) {
	ep := host.remoteEntrypoint("")
	ep.display = t.ns.display
	dt, ok := host.remote.(transport.DurableObjectTransport)
	if !ok {
		return nil, newError(ErrNamespaceNotFound, "%s method %q: service %q is reached through a %T, which carries no Durable Object calls (it does not implement transport.DurableObjectTransport)", t.ns.display, method, host.name, host.remote)
	}
	if err := checkCrossing(ep, method, args); err != nil {
		return nil, err
	}
	c := new(Ctx)
	if err := host.reg.open(ctx, nil, ep, method, &c.inv); err != nil {
		return nil, err
	}
	defer c.end()
	return dt.CallDurableObject(c, &transport.Call{
		Service: host.name, Class: t.ns.b.ClassName, Object: t.id.String(), Method: method,
		Args: args, Depth: int(c.inv.Depth), Result: result, Caller: callerOf(ctx, ""),
	})
}

// hostedObject is link.Hooks.Object: a stub of the object id (64 hex
// digits, from a peer) of class of service, a worker reg runs itself, and
// the method's description. A class hosted elsewhere is not served onward.
func hostedObject(reg any, service, class, id, method string) (any, transport.MethodInfo, error) {
	r, _ := reg.(*Registry)
	if r == nil {
		return nil, transport.MethodInfo{}, newError(ErrNamespaceNotFound, "durable object %q of service %q: no registry", class, service)
	}
	b := DurableObjectBinding{ScriptName: service, ClassName: class}
	c, host, err := r.lookupClass(b, "")
	switch {
	case err != nil:
		return nil, transport.MethodInfo{}, err
	case host != nil:
		return nil, transport.MethodInfo{}, newError(ErrServiceNotFound,
			"durable object %q of service %q is not hosted here: this registry reaches service %q as a remote worker, and serves only the objects it hosts", class, service, service)
	}
	parsed, problem := parseID(id)
	if problem == "" && !parsed.belongs(&c.key) {
		problem = "it is an ID of another namespace, or mistyped"
	}
	if problem != "" {
		q := id
		if len(q) > 80 {
			q = q[:80] + "..."
		}
		return nil, transport.MethodInfo{}, newError(ErrInvalidArgument, "%s method %q: object ID %q: %s", c.display, method, q, problem)
	}
	m, err := c.method(method)
	if err != nil {
		return nil, transport.MethodInfo{}, err
	}
	ns := newNamespace(r, "", b)
	ns.cls.Store(c)
	return ns.Get(parsed), methodInfo(m), nil
}
