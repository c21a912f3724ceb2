package remote

import (
	"context"
	"reflect"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/transport"
)

// Serialize returns an interceptor that makes every in-process call of a
// registry cross the encoding of a remote call, without a network: the
// arguments and props are encoded as a [Transport] encodes them and
// decoded as the handler decodes them, into the method's parameter types;
// the result and the error come back as a Transport decodes them. So a
// value that could not cross fails the call here, with the error a remote
// call would give (a channel, a context, a value over 32 MiB), and what would change on the way changes here too (fields the
// encoding skips, such as those tagged cbor:"-", are lost; props arrive
// JSON-like; an error that both sides do not know by name keeps only its
// message), so that a test fails exactly where a deployment with the
// worker remote would:
//
//	reg := workers.NewRegistry(workers.WithInterceptors(remote.Serialize()))
//
// Calls to remote workers pass by (they cross the wire anyway), and so do
// fetches, whose bodies are bytes already, and the arguments and results
// that cross a session by reference (stubs, RpcTargets, funcs, Bindings);
// a reference nested inside a value is refused here, though a session
// carries one in a value of interface type. opts are the options
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
			return serialized(ctx, ci, next, k)
		}
	})
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
	// The caller's side, as Transport.Call encodes it.
	stubs := map[int]any{}
	args := make([]any, len(ci.Args))
	for i, a := range ci.Args {
		if a != nil && byRef(reflect.TypeOf(a)) {
			stubs[i], a = a, nil // it crosses a session by reference
		}
		args[i] = a
	}
	req, err := encodeCall(&transport.Call{Service: service, Entrypoint: ci.Entrypoint, Method: ci.Method,
		Args: args, Props: ci.Props, Depth: ci.Depth}, nil, where)
	if err != nil {
		return nil, err
	}
	var wire CallRequest
	if err := roundTrip(req, &wire); err != nil {
		return nil, err
	}
	// The serving side, as the handler decodes it.
	props, args, err := decodeCall(mi, &wire, where)
	if err != nil {
		return nil, overTheWire(err, k)
	}
	for i, s := range stubs {
		args[i] = s
	}
	ci.Args, ci.Props = args, props
	res, err := next(ctx, ci)
	if err != nil {
		return nil, overTheWire(err, k)
	}
	if res != nil && byRef(reflect.TypeOf(res)) {
		return res, nil
	}
	out, err := encodeResult(mi, res, where)
	if err != nil {
		return nil, overTheWire(err, k)
	}
	var back CallResponse
	if err := roundTrip(out, &back); err != nil {
		return nil, err
	}
	return decodeResult(&back, ci.Result, where)
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
