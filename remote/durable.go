package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/transport"
)

// Durable Objects across processes: a caller's namespace whose
// script_name is a worker registered with [Register] sends its calls
// through the worker's Transport, on the session (never as unary calls,
// so that arguments and results cross by reference as they do for every
// other call of a session); the handler checks them against the
// credential's Allow rules (see [Allow.Class]) and the ID, then runs them
// on the one object of that ID in its registry.

var _ transport.DurableObjectTransport = (*Transport)(nil)

// CallDurableObject implements [transport.DurableObjectTransport]: it runs
// one call on the Durable Object call.Object of class call.Class hosted by
// the handler's registry, through the Transport's session.
func (t *Transport) CallDurableObject(ctx context.Context, call *transport.Call) (any, error) {
	where := describeObject(call.Service, call.Class, call.Object, call.Method)
	if t.err != nil {
		return nil, errorf([]error{workers.ErrUnavailable, t.err}, "workers: %s: %v", where, t.err)
	}
	for try := 0; ; try++ {
		s, err, unary := t.session(ctx, where)
		switch {
		case unary:
			return nil, errorf([]error{workers.ErrUnavailable}, "workers: %s: Durable Object calls travel on a session, and the handler at %s serves none (HTTP/1.1, or an older handler)", where, t.base)
		case err != nil:
			return nil, err
		case s.version < objectsVersion:
			return nil, errorf([]error{workers.ErrUnavailable}, "workers: %s: the handler at %s speaks session version %d, which carries no Durable Object calls (version %d does): upgrade it", where, t.base, s.version, objectsVersion)
		}
		s.adopt(hooks().RegistryOf(ctx))
		f := &frame{Op: opCall, Service: call.Service, Class: call.Class, Object: call.Object, Method: call.Method, Depth: call.Depth, Caller: sentCaller(call.Caller)}
		res, err := s.call(ctx, nil, f, call.Args, nil, call.Result, hooks().Caller(ctx), where)
		if err != nil && errors.Is(err, errNotSent) && try < 2 {
			continue // the session ended before the call left: through a new one
		}
		return res, err
	}
}

// callObject serves the peer's call f of a Durable Object, within its
// credential's Allow rules: nothing of the call is decoded, and no object
// is reached, before the rules and the ID allow it.
func (s *session) callObject(ctx context.Context, f *frame, d *decoder, where string) (any, bool, bool, error) {
	if s.p == nil || !s.p.allowsObject(f.Service, f.Class, f.Method) {
		return nil, false, false, s.h.deniedObject(s.p, f.Service, f.Class, f.Method)
	}
	st, mi, err := hooks().Object(s.reg, f.Service, f.Class, f.Object, f.Method)
	if err != nil {
		return nil, false, false, err
	}
	stub := st.(*workers.Stub)
	defer stub.Close()
	args, err := d.args(mi.Params, mi.Variadic, f, where)
	if err != nil {
		return nil, false, false, err
	}
	res, err := stub.Call(ctx, f.Method, args...)
	return res, mi.Result != nil, true, err
}

// deniedObject is the error of a call of a Durable Object the principal
// may not make, logged in the registry's log.
func (h *handler) deniedObject(p *principal, service, class, method string) error {
	name := "an unauthenticated caller"
	if p != nil {
		name = p.name
	}
	err := errorf([]error{ErrPermissionDenied}, "remote: %s may not call durable object class %q of service %q method %q", name, class, service, method)
	h.logger().Warn("remote: call refused", "service", service, "class", class, "method", method, "error", err)
	return err
}

func describeObject(service, class, id, method string) string {
	s := fmt.Sprintf("durable object %q of service %q", class, service)
	if len(id) > 80 {
		id = id[:80] + "..."
	}
	if id != "" {
		s += fmt.Sprintf(" id %q", id)
	}
	return s + fmt.Sprintf(" method %q", method)
}
