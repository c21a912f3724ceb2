package remote

import (
	"context"
	"sync/atomic"

	"github.com/seed-29c11ff2/workers"
)

// Serialize returns an interceptor that makes every in-process call of a
// registry cross the encoding of a remote session, without a network: the
// arguments and props are encoded as a [Transport]'s session encodes them
// and decoded as the handler decodes them, into the method's parameter
// types; the result and the error come back as a Transport decodes them.
// So a value that could not cross fails the call here, with the error a
// remote call would give (a channel, a context, a value over 32 MiB, a
// reference in a field whose type is not an interface), and what would
// change on the way changes here too (fields the encoding skips, such as
// those tagged cbor:"-", are lost; props arrive JSON-like; an error that
// both sides do not know by name keeps only its message), so that a test
// fails exactly where a deployment with the worker remote would:
//
//	reg := workers.NewRegistry(workers.WithInterceptors(remote.Serialize()))
//
// References (RpcTargets, stubs, funcs, Bindings), as arguments or results
// or nested in values of interface type, cross as they cross a session: by
// reference, through an in-memory session pair, so the callee gets a
// *workers.Stub (or a func that calls back) whose calls cross the encoding
// too, and the release rules are the session's. Calls to remote workers
// pass by (they cross the wire anyway), and so do fetches, whose bodies
// are bytes already, and the calls that references of the session pair
// make of this side's objects (they crossed already). opts are the options
// of both sides that decide what crosses ([WithErrors]). Package
// workerstest's Serialized option installs it.
func Serialize(opts ...Option) workers.Interceptor {
	var cfg handlerConfig
	for _, o := range opts {
		if o != nil {
			o.applyToHandler(&cfg)
		}
	}
	k := cfg.errors
	return workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
		return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
			if ci.Remote {
				return next(ctx, ci)
			}
			if tok, _ := ctx.Value(crossedKey{}).(*atomic.Bool); tok != nil && tok.CompareAndSwap(false, true) {
				// A call a reference of a session pair serves: it crossed
				// already. Calls it makes in turn cross again.
				return next(ctx, ci)
			}
			return serialized(ctx, ci, next, k)
		}
	})
}

// crossedKey marks, with a one-shot token, the context of a call that the
// callee side of a session pair serves.
type crossedKey struct{}

func markCrossed(ctx context.Context) context.Context {
	return context.WithValue(ctx, crossedKey{}, new(atomic.Bool))
}

// loopback returns the two ends of a session that carries what one
// serialized call passes by reference: the caller's end exports the
// caller's references, the callee's end the callee's. Each end's frames are
// encoded and decoded as on the wire and handled by the other end at once,
// in the sender's goroutine; each call a reference receives runs in its own
// goroutine, as a session runs it. The pair holds no goroutine of its own:
// it lives as long as references to it do.
func loopback(reg *workers.Registry, k *knownErrors) (caller, callee *session) {
	deliver := func(to **session) func(*sessionBatch) error {
		return func(b *sessionBatch) error {
			data, err := encMode.Marshal(b)
			if err != nil {
				return err
			}
			got, err := decodeBatch(data)
			if err != nil {
				return err
			}
			s := *to
			for i := range got.Frames {
				if err := s.handle(&got.Frames[i]); err != nil {
					go s.end(unavailable(s.peer, err))
					return err
				}
			}
			return nil
		}
	}
	caller = newSession(context.Background(), false, "the serialized call's callee", sessionLimits{}, deliver(&callee))
	callee = newSession(context.Background(), false, "the serialized call's caller", sessionLimits{}, deliver(&caller))
	for _, s := range []*session{caller, callee} {
		s.reg, s.errs, s.served = reg, k, markCrossed
	}
	return caller, callee
}

func serialized(ctx context.Context, ci *workers.CallInfo, next workers.CallFunc, k *knownErrors) (any, error) {
	service := ci.Service
	if service == "" {
		service = ci.Target
	}
	where := describe(service, ci.Entrypoint, ci.Method)
	mi, err := hooks().CallMethod(ci)
	if err != nil {
		return nil, overTheWire(err, k)
	}
	reg, _ := hooks().CallRegistry(ci).(*workers.Registry)
	caller, callee := loopback(reg, k)

	// The caller's side: the runtime's checks of a remote call, then the
	// encoding of a Transport's session.
	if i, err := hooks().Uncopyable(ci.Args); err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: argument %d: %v", where, i, err)
	}
	enc := encoder{s: caller, ctx: ctx, reg: reg}
	f := frame{Op: opCall, ID: 1, Service: service, Entrypoint: ci.Entrypoint, Method: ci.Method, Depth: ci.Depth}
	if err := enc.call(&f, ci.Args, ci.Props, where); err != nil {
		return nil, err
	}
	wire, err := across(f)
	if err != nil {
		enc.sent(false)
		return nil, err
	}
	enc.sent(true)
	defer enc.done()

	// The serving side, as the handler's session decodes it.
	d := &decoder{s: callee, ctx: ctx, reg: reg}
	props, err := d.props(wire, where)
	if err != nil {
		return nil, err
	}
	args, err := d.args(mi.Params, mi.Variadic, wire, where)
	if err != nil {
		d.release()
		return nil, overTheWire(err, k)
	}
	ci.Args, ci.Props = args, props
	res, err := next(ctx, ci)
	d.release() // the references the arguments made end with the call
	if err != nil {
		return nil, overTheWire(err, k)
	}
	if mi.Result == nil {
		return nil, nil
	}
	if st, ok := res.(*workers.Stub); ok {
		defer st.Close() // the export holds its own
	}
	renc := encoder{s: callee, ctx: ctx, reg: reg}
	out := frame{Op: opReturn, ID: 1}
	data, err := renc.value(res)
	switch {
	case err != nil:
		err = errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: result: %v", where, err)
	case len(data) > MaxMessageBytes:
		err = sizeError(where+": result", len(data))
	}
	if err != nil {
		renc.sent(false)
		return nil, overTheWire(err, k)
	}
	out.Result, out.Type, out.Nested = data, hintOf(res), renc.nested
	back, err := across(out)
	if err != nil {
		renc.sent(false)
		return nil, err
	}
	renc.sent(true)
	defer renc.done()
	// The caller's side, as a Transport's session decodes a return.
	return caller.returned(back, reg, ci.Result, ctx, where)
}

// across sends f over the wire's encoding and returns what arrives.
func across(f frame) (*frame, error) {
	data, err := encMode.Marshal(&sessionBatch{Frames: []frame{f}})
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "remote: serialize: %v", err)
	}
	b, err := decodeBatch(data)
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidArgument, err}, "remote: serialize: %v", err)
	}
	return &b.Frames[0], nil
}

// roundTrip encodes in and decodes it into out, as the wire does.
func roundTrip(in, out any) error {
	data, err := encMode.Marshal(in)
	if err == nil {
		err = decMode.Unmarshal(data, out)
	}
	if err != nil {
		return errorf([]error{workers.ErrInvalidArgument, err}, "remote: serialize: %v", err)
	}
	return nil
}

// overTheWire returns err as a caller on the other side of the wire gets
// it.
func overTheWire(err error, k *knownErrors) error {
	we, _ := toWire(err, k)
	var back WireError
	if roundTrip(we, &back) != nil {
		return err
	}
	return fromWire(&back, k)
}
