package workerstest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/clone"
)

// CallFunc is a fake service that answers every RPC call itself.
type CallFunc = func(ctx context.Context, method string, args []any) (any, error)

// Fake registers a fake worker in reg under the name service, so that every
// binding to service reaches fake, with the runtime's rules for a call
// (context, depth, props, interceptors) but none of a worker's code. fake
// is one of:
//
//   - a [CallFunc], func(ctx, method, args) (any, error), which answers every
//     RPC call;
//   - a map[string]any from method names to Go funcs, each called with the
//     call's arguments converted to its parameters (a first
//     context.Context parameter gets the call's), and returning nothing, a
//     result, an error, or a result and an error;
//   - any other Go value, whose exported methods are called so, by name;
//     it need not embed workers.Entrypoint.
//
// A fake that is also an [http.Handler] serves the service's Fetch. A
// method the fake does not have fails with workers.ErrMethodNotFound. It
// fails the test when service is taken.
func Fake(t TB, reg *workers.Registry, service string, fake any) {
	t.Helper()
	if err := register(reg, service, fake); err != nil {
		t.Fatalf("workerstest: %v", err)
	}
}

// fakeWorker is the worker a fake is registered as: it has no methods of
// its own, its interceptor answers every call.
type fakeWorker struct{ workers.Entrypoint }

func register(reg *workers.Registry, service string, fake any) error {
	if fake == nil {
		return fmt.Errorf("fake service %q: nil fake", service)
	}
	f := &faker{service: service, value: fake}
	return reg.Register(service, workers.Worker{
		Default:      workers.New[fakeWorker](),
		Interceptors: []workers.Interceptor{f},
	})
}

// faker answers the calls and fetches of a fake service.
type faker struct {
	service string
	value   any
}

func (f *faker) WrapCall(workers.CallFunc) workers.CallFunc {
	return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
		if fn, ok := f.value.(CallFunc); ok {
			return fn(ctx, ci.Method, ci.Args)
		}
		var m reflect.Value
		if fns, ok := f.value.(map[string]any); ok {
			if fn, ok := fns[ci.Method]; ok && fn != nil {
				m = reflect.ValueOf(fn)
			}
		} else {
			m = reflect.ValueOf(f.value).MethodByName(ci.Method)
		}
		if !m.IsValid() || m.Kind() != reflect.Func {
			return nil, fmt.Errorf("%w: fake service %q has no method %q", workers.ErrMethodNotFound, f.service, ci.Method)
		}
		return f.call(ctx, ci, m)
	}
}

func (f *faker) WrapFetch(workers.FetchFunc) workers.FetchFunc {
	return func(req *http.Request, ci *workers.CallInfo) (*http.Response, error) {
		h, ok := f.value.(http.Handler)
		if !ok {
			return nil, fmt.Errorf("%w: fake service %q is not an http.Handler", workers.ErrNoFetchHandler, f.service)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	}
}

var (
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// call calls the func m with the call's arguments converted to its
// parameters.
func (f *faker) call(ctx context.Context, ci *workers.CallInfo, m reflect.Value) (out any, err error) {
	mt := m.Type()
	var in []reflect.Value
	first := 0
	if mt.NumIn() > 0 && mt.In(0) == ctxType {
		in = append(in, reflect.ValueOf(ctx))
		first = 1
	}
	fixed := mt.NumIn() - first
	if mt.IsVariadic() {
		fixed--
	}
	if len(ci.Args) < fixed || (!mt.IsVariadic() && len(ci.Args) > fixed) {
		return nil, fmt.Errorf("%w: fake service %q method %q: got %d arguments, want %d", workers.ErrInvalidArgument, f.service, ci.Method, len(ci.Args), fixed)
	}
	for i, a := range ci.Args {
		var pt reflect.Type
		if i < fixed {
			pt = mt.In(first + i)
		} else {
			pt = mt.In(mt.NumIn() - 1).Elem()
		}
		v, err := clone.Convert(a, pt)
		if err != nil {
			return nil, fmt.Errorf("%w: fake service %q method %q: argument %d: %v", workers.ErrInvalidArgument, f.service, ci.Method, i, err)
		}
		in = append(in, v)
	}
	defer func() {
		if v := recover(); v != nil {
			err = &workers.PanicError{Value: v}
		}
	}()
	res := m.Call(in)
	if n := len(res); n > 0 && mt.Out(n-1) == errType {
		if e := res[n-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		res = res[:n-1]
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Interface(), nil
}
