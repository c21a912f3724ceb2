package workers_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/gentest"
	"github.com/seed-29c11ff2/workers/workerstest"
)

// seen records what interceptors saw, in order.
type seen struct {
	mu    sync.Mutex
	calls []workers.CallInfo
	errs  []error
}

func (s *seen) interceptor(tag string) workers.Interceptor {
	return interceptorFuncs{
		call: func(next workers.CallFunc) workers.CallFunc {
			return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
				out, err := next(ctx, ci)
				s.add(tag, ci, err)
				return out, err
			}
		},
		fetch: func(next workers.FetchFunc) workers.FetchFunc {
			return func(req *http.Request, ci *workers.CallInfo) (*http.Response, error) {
				resp, err := next(req, ci)
				s.add(tag, ci, err)
				return resp, err
			}
		},
	}
}

func (s *seen) add(tag string, ci *workers.CallInfo, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *ci
	c.Target = tag + c.Target
	s.calls = append(s.calls, c)
	s.errs = append(s.errs, err)
}

func (s *seen) all() []workers.CallInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]workers.CallInfo(nil), s.calls...)
}

type interceptorFuncs struct {
	call  func(workers.CallFunc) workers.CallFunc
	fetch func(workers.FetchFunc) workers.FetchFunc
}

func (f interceptorFuncs) WrapCall(next workers.CallFunc) workers.CallFunc    { return f.call(next) }
func (f interceptorFuncs) WrapFetch(next workers.FetchFunc) workers.FetchFunc { return f.fetch(next) }

type icCounter struct {
	workers.RpcTarget
	n int
}

func (c *icCounter) Increment(by int) int { c.n += by; return c.n }

type icWorker struct{ workers.Entrypoint }

func (w *icWorker) Add(a, b int) int { return a + b }

func (w *icWorker) Counter() *icCounter { return &icCounter{} }

func (w *icWorker) Fetch(r *http.Request) (*http.Response, error) {
	return workers.NewResponse(200, "hi "+r.URL.Path), nil
}

// Nested calls Add through its service binding with the binding's props.
func (w *icWorker) Nested(a int) (int, error) {
	return workers.Call[int](w.Ctx, w.Env.Service("SELF"), "Add", a, 1)
}

// Every way of calling reaches the interceptors, with what the call is.
func TestInterceptorsSeeEveryCall(t *testing.T) {
	var s seen
	reg := workers.NewRegistry(workers.WithInterceptors(s.interceptor("")))
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("ic", workers.Worker{
		Default:  workers.New[icWorker](),
		Services: []workers.Service{{Binding: "SELF", Service: "ic", Props: map[string]any{"who": "self"}}},
	}))
	require.NoError(t, reg.Register("calc", workers.Worker{Default: workers.New[gentest.Calc]()}))
	ctx := context.Background()
	b := reg.Bind(workers.Service{Service: "ic"})

	_, err := b.Call(ctx, "Add", 1, 2)
	require.NoError(t, err)
	sum, err := workers.Call[int](ctx, b, "Add", 3, 4)
	require.NoError(t, err)
	assert.Equal(t, 7, sum)
	sum, err = gentest.NewCalcClient(reg.Bind(workers.Service{Service: "calc"})).Add(ctx, 5, 6)
	require.NoError(t, err)
	assert.Equal(t, 11, sum, "a typed client takes the by-name path, and still works")
	stub, err := workers.Call[*workers.Stub](ctx, b, "Counter")
	require.NoError(t, err)
	defer stub.Close()
	n, err := workers.Call[int](ctx, stub, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	resp, err := b.Fetch(httptestRequest(t, "/x"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "hi /x", string(body))
	_, err = b.Call(ctx, "Nested", 9)
	require.NoError(t, err)

	calls := s.all()
	require.Len(t, calls, 8)
	want := []struct {
		service, target, method, caller string
		depth                           int
		args                            []any
		props                           any
	}{
		{"ic", "", "Add", "", 1, []any{1, 2}, nil},
		{"ic", "", "Add", "", 1, []any{3, 4}, nil},
		{"calc", "", "Add", "", 1, []any{5, 6}, nil},
		{"ic", "", "Counter", "", 1, nil, nil},
		{"", "*workers_test.icCounter", "Increment", "", 1, []any{2}, nil},
		{"ic", "", "", "", 1, nil, nil},
		// The nested call ends first, so it is recorded first.
		{"ic", "", "Add", "ic", 2, []any{9, 1}, map[string]any{"who": "self"}},
		{"ic", "", "Nested", "", 1, []any{9}, nil},
	}
	for i, w := range want {
		c := calls[i]
		assert.Equal(t, w.service, c.Service, "call %d", i)
		assert.Equal(t, w.target, c.Target, "call %d", i)
		assert.Equal(t, w.method, c.Method, "call %d", i)
		assert.Equal(t, w.caller, c.Caller, "call %d", i)
		assert.Equal(t, w.depth, c.Depth, "call %d", i)
		assert.Equal(t, w.args, c.Args, "call %d", i)
		assert.Equal(t, w.props, c.Props, "call %d", i)
		assert.False(t, c.Remote, "call %d", i)
	}
}

func httptestRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://ic"+path, nil)
	require.NoError(t, err)
	return req
}

// An interceptor that returns an error without calling on refuses the
// call: the method does not run, the caller gets the error, and the
// registry logs it with the call's attributes.
func TestInterceptorRefuses(t *testing.T) {
	errNo := errors.New("not on Sundays")
	var logs bytes.Buffer
	refuse := workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
		return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
			if ci.Method == "Counter" {
				return nil, errNo
			}
			return next(ctx, ci)
		}
	})
	reg := workers.NewRegistry(workers.WithInterceptors(refuse),
		workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("ic", workers.Worker{Default: workers.New[icWorker]()}))
	b := reg.Bind(workers.Service{Service: "ic"})

	_, err := workers.Call[*workers.Stub](context.Background(), b, "Counter")
	assert.ErrorIs(t, err, errNo)
	sum, err := workers.Call[int](context.Background(), b, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	resp, err := b.Fetch(httptestRequest(t, "/"))
	require.NoError(t, err, "a CallInterceptorFunc lets fetches by")
	resp.Body.Close()

	out := logs.String()
	assert.Contains(t, out, `msg="workers: call refused by an interceptor"`)
	assert.Contains(t, out, "service=ic method=Counter depth=1")
	assert.Contains(t, out, `error="not on Sundays"`)
	assert.Equal(t, 1, strings.Count(out, "refused"), "only the refused call is logged:\n%s", out)
}

// Registry interceptors wrap the worker's own; within each, the first is
// outermost. Only the called worker's interceptors see its calls.
func TestInterceptorOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mark := func(name string) workers.Interceptor {
		return workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
			return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
				mu.Lock()
				order = append(order, name+">"+ci.Service)
				mu.Unlock()
				return next(ctx, ci)
			}
		})
	}
	reg := workers.NewRegistry(workers.WithInterceptors(mark("r1"), mark("r2")))
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("a", workers.Worker{Default: workers.New[icWorker](), Interceptors: []workers.Interceptor{mark("a1"), mark("a2")}}))
	require.NoError(t, reg.Register("b", workers.Worker{Default: workers.New[icWorker]()}))
	ctx := context.Background()
	_, err := reg.Bind(workers.Service{Service: "a"}).Call(ctx, "Add", 1, 2)
	require.NoError(t, err)
	_, err = reg.Bind(workers.Service{Service: "b"}).Call(ctx, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"r1>a", "r2>a", "a1>a", "a2>a", "r1>b", "r2>b"}, order)
}

// An interceptor may change the arguments and props the call runs with,
// and the context the callee sees.
func TestInterceptorRewrites(t *testing.T) {
	rewrite := workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
		return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
			ci.Args = []any{100, 1}
			ci.Props = "stamped"
			return next(context.WithValue(ctx, icKey{}, "v"), ci)
		}
	})
	reg := workers.NewRegistry(workers.WithInterceptors(rewrite))
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	require.NoError(t, reg.Register("p", workers.Worker{Default: workers.New[propsWorker]()}))
	got, err := workers.Call[[]any](context.Background(), reg.Bind(workers.Service{Service: "p"}), "Look", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, []any{101, "stamped", "v"}, got)
}

type propsWorker struct{ workers.Entrypoint }

func (w *propsWorker) Look(a, b int) []any {
	return []any{a + b, w.Ctx.Props(), w.Ctx.Value(icKey{})}
}

type icKey struct{}

// Calls on a Durable Object's stub reach the registry's and its worker's
// interceptors, named by the worker and the class.
func TestInterceptorsSeeDurableObjects(t *testing.T) {
	var s seen
	reg := workerstest.New(t, workers.WithInterceptors(s.interceptor("")))
	ns := counters(t, reg)
	stub := ns.GetByName("home")
	defer stub.Close()
	_, err := stub.Call(context.Background(), "Increment")
	require.NoError(t, err)
	calls := s.all()
	require.Len(t, calls, 1)
	assert.Equal(t, "app", calls[0].Service)
	assert.Equal(t, "Counter", calls[0].Target)
	assert.Equal(t, "Increment", calls[0].Method)
	assert.Equal(t, 1, calls[0].Depth)
}
