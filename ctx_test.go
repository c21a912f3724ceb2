package workers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

var _ context.Context = (*workers.Ctx)(nil)

// Context propagation.

type ctxReport struct {
	ParamValue, CtxValue       any
	ParamDeadline, CtxDeadline time.Time
	ParamHas, CtxHas           bool
	Same                       bool
	Depth                      int
	Nested                     *ctxReport
}

type inspector struct{ workers.Entrypoint }

func (w *inspector) Inspect(ctx context.Context) ctxReport {
	pd, ph := ctx.Deadline()
	cd, ch := w.Ctx.Deadline()
	return ctxReport{
		ParamValue: ctx.Value(ctxKey("k")), CtxValue: w.Ctx.Value(ctxKey("k")),
		ParamDeadline: pd, CtxDeadline: cd, ParamHas: ph, CtxHas: ch,
		Same:  ctx == context.Context(w.Ctx),
		Depth: w.Ctx.Depth(),
	}
}

// Relay calls Inspect on the next worker with the ctx it got, and Relay2
// with w.Ctx after adding nothing.
func (w *inspector) Relay(ctx context.Context) (ctxReport, error) {
	r := w.Inspect(ctx)
	nested, err := workers.Call[ctxReport](ctx, w.Env.Service("NEXT"), "Inspect")
	r.Nested = &nested
	return r, err
}

func (w *inspector) RelayCtx() (ctxReport, error) {
	r := w.Inspect(w.Ctx)
	nested, err := workers.Call[ctxReport](w.Ctx, w.Env.Service("NEXT"), "Inspect")
	r.Nested = &nested
	return r, err
}

// WaitCancel blocks until its Ctx is done and returns the Ctx's error.
func (w *inspector) WaitCancel() error {
	g, _ := workers.Get[*gate](w.Env, "GATE")
	g.entered <- struct{}{}
	<-w.Ctx.Done()
	return w.Ctx.Err()
}

func newInspectors(t *testing.T) *workers.Registry {
	t.Helper()
	reg := newRegistry(t)
	register(t, reg, "inspector", workers.Worker{
		Default:  workers.New[inspector](),
		Services: []workers.Service{{Binding: "NEXT", Service: "inspector"}},
		Bindings: map[string]any{"GATE": &gate{entered: make(chan struct{})}},
	})
	return reg
}

func TestCtxValuesAndDeadline(t *testing.T) {
	reg := newInspectors(t)
	b := bind(reg, "inspector")
	deadline := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithDeadline(context.WithValue(t.Context(), ctxKey("k"), "v"), deadline)
	defer cancel()

	r, err := workers.Call[ctxReport](ctx, b, "Inspect")
	require.NoError(t, err)
	assert.Equal(t, "v", r.ParamValue)
	assert.Equal(t, "v", r.CtxValue)
	assert.True(t, r.ParamHas)
	assert.True(t, r.CtxHas)
	assert.True(t, deadline.Equal(r.ParamDeadline), "deadline %v", r.ParamDeadline)
	assert.True(t, deadline.Equal(r.CtxDeadline), "deadline %v", r.CtxDeadline)
	assert.True(t, r.Same, "the context parameter is the invocation's Ctx")
	assert.Equal(t, 1, r.Depth)

	r, err = workers.Call[ctxReport](t.Context(), b, "Inspect")
	require.NoError(t, err)
	assert.Nil(t, r.ParamValue)
	assert.False(t, r.CtxHas)
}

func TestCtxPropagatesThroughNestedCalls(t *testing.T) {
	reg := newInspectors(t)
	b := bind(reg, "inspector")
	deadline := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithDeadline(context.WithValue(t.Context(), ctxKey("k"), "v"), deadline)
	defer cancel()

	for _, method := range []string{"Relay", "RelayCtx"} {
		t.Run(method, func(t *testing.T) {
			r, err := workers.Call[ctxReport](ctx, b, method)
			require.NoError(t, err)
			require.NotNil(t, r.Nested)
			assert.Equal(t, 1, r.Depth)
			assert.Equal(t, 2, r.Nested.Depth)
			assert.Equal(t, "v", r.Nested.ParamValue)
			assert.Equal(t, "v", r.Nested.CtxValue)
			assert.True(t, deadline.Equal(r.Nested.CtxDeadline))
		})
	}
}

func TestCtxCanceledDuringCall(t *testing.T) {
	reg := newInspectors(t)
	g, _ := workers.Get[*gate](envOfInspector(t, reg), "GATE")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := bind(reg, "inspector").Call(ctx, "WaitCancel")
		done <- err
	}()
	<-g.entered
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled, "cancellation reaches w.Ctx.Done")
}

func (w *inspector) Grab(f func(*workers.Env)) { f(w.Env) }

func envOfInspector(t *testing.T, reg *workers.Registry) *workers.Env {
	t.Helper()
	return envOf(t, reg, "inspector")
}

func TestNilCtx(t *testing.T) {
	var c *workers.Ctx
	require.NotPanics(t, func() {
		assert.NoError(t, c.Err())
		assert.Nil(t, c.Done())
		_, ok := c.Deadline()
		assert.False(t, ok)
		assert.Nil(t, c.Value(ctxKey("k")))
		assert.Nil(t, c.Props())
		assert.Zero(t, c.Depth())
		c.PassThroughOnException()
	})
	ran := make(chan struct{})
	c.WaitUntil(func(ctx context.Context) error {
		defer close(ran)
		return ctx.Err()
	})
	<-ran
}

// WaitUntil.

type tasker struct{ workers.Entrypoint }

type taskProbe struct {
	started  chan struct{}
	release  chan struct{}
	result   chan error
	value    chan any
	finished atomic.Bool
}

func newTaskProbe() *taskProbe {
	return &taskProbe{
		started: make(chan struct{}),
		release: make(chan struct{}),
		result:  make(chan error, 1),
		value:   make(chan any, 1),
	}
}

func (w *tasker) probe() *taskProbe {
	p, _ := workers.Get[*taskProbe](w.Env, "PROBE")
	return p
}

// Background starts a task and waits for it to start before returning: the
// task runs at once, not after the invocation.
func (w *tasker) Background() string {
	p := w.probe()
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		close(p.started)
		<-p.release
		p.value <- ctx.Value(ctxKey("k"))
		p.result <- ctx.Err()
		p.finished.Store(true)
		return nil
	})
	<-p.started
	return "answered"
}

// UntilCanceled starts a task that runs until its ctx is canceled.
func (w *tasker) UntilCanceled() {
	p := w.probe()
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		close(p.started)
		<-ctx.Done()
		p.result <- ctx.Err()
		return nil
	})
}

func (w *tasker) Noop() {}

func (w *tasker) Fail() {
	w.Ctx.WaitUntil(func(context.Context) error { return errors.New("smtp is down") })
	w.Ctx.WaitUntil(nil) // ignored
}

func (w *tasker) Panic() {
	w.Ctx.WaitUntil(func(context.Context) error { panic("task exploded") })
	p := w.probe()
	w.Ctx.WaitUntil(func(context.Context) error { // another task is unaffected
		p.finished.Store(true)
		return nil
	})
}

// Leak hands its Ctx to the caller, who keeps it past the invocation.
func (w *tasker) Leak(f func(*workers.Ctx)) { f(w.Ctx) }

func newTasker(t *testing.T, opts ...workers.Option) (*workers.Registry, *workers.Binding, *taskProbe) {
	t.Helper()
	p := newTaskProbe()
	reg := newRegistry(t, opts...)
	register(t, reg, "tasker", workers.Worker{
		Default:  workers.New[tasker](),
		Bindings: map[string]any{"PROBE": p},
	})
	return reg, bind(reg, "tasker"), p
}

func TestWaitUntilOutlivesTheInvocation(t *testing.T) {
	reg, b, p := newTasker(t)
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey("k"), "v"))

	got, err := workers.Call[string](ctx, b, "Background")
	require.NoError(t, err)
	assert.Equal(t, "answered", got)
	assert.False(t, p.finished.Load(), "Call returned after the task finished")

	cancel() // the caller goes away; the task must not notice
	close(p.release)
	assert.NoError(t, <-p.result, "the task's ctx was canceled with the caller's")
	assert.Equal(t, "v", <-p.value, "the task's ctx keeps the invocation's values")

	require.NoError(t, reg.Close(context.Background()))
	assert.True(t, p.finished.Load())
}

func TestCloseWaitsForWaitUntil(t *testing.T) {
	reg, b, p := newTasker(t)
	_, err := b.Call(t.Context(), "Background")
	require.NoError(t, err)

	closed := make(chan error, 1)
	go func() { closed <- reg.Close(context.Background()) }()
	waitClosedTasker(t, b)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a WaitUntil task ran", err)
	default:
	}
	close(p.release)
	require.NoError(t, <-closed)
	assert.True(t, p.finished.Load(), "Close returned before the task finished")
	<-p.result
}

func waitClosedTasker(t *testing.T, b *workers.Binding) {
	t.Helper()
	for {
		_, err := b.Call(context.Background(), "Noop")
		if errors.Is(err, workers.ErrClosed) {
			return
		}
		require.NoError(t, err)
	}
}

func TestWaitUntilCanceledWhenCloseGivesUp(t *testing.T) {
	reg, b, p := newTasker(t)
	_, err := b.Call(t.Context(), "UntilCanceled")
	require.NoError(t, err)
	<-p.started

	ctx, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	err = reg.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, <-p.result, context.Canceled, "Close cancels the tasks it stops waiting for")
}

func TestWaitUntilFailuresAreLogged(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	reg, b, p := newTasker(t, workers.WithLogger(logger))

	_, err := b.Call(t.Context(), "Fail")
	require.NoError(t, err, "a failing task does not fail the call")
	_, err = b.Call(t.Context(), "Panic")
	require.NoError(t, err, "a panicking task does not fail the call")

	sum, err := workers.Call[string](t.Context(), b, "Background")
	require.NoError(t, err, "the registry keeps working")
	assert.Equal(t, "answered", sum)
	close(p.release)
	<-p.result

	require.NoError(t, reg.Close(context.Background()))
	assert.True(t, p.finished.Load())

	logs := buf.String()
	assert.Contains(t, logs, "WaitUntil task failed")
	assert.Contains(t, logs, "smtp is down")
	assert.Contains(t, logs, "WaitUntil task panicked")
	assert.Contains(t, logs, "task exploded")
	assert.Contains(t, logs, "tasker", "the log names the service")
	assert.Equal(t, 2, strings.Count(logs, "level=ERROR"), "exactly the two failures:\n%s", logs)
}

// Props.

type propsReader struct{ workers.Entrypoint }

type perms struct {
	ClientID    string   `json:"clientId"`
	Permissions []string `json:"permissions"`
}

// Props returns the props it got, then changes them: the next invocation
// must not see the change.
func (w *propsReader) Props() any {
	p := w.Ctx.Props()
	out := fmt.Sprint(p)
	if m, ok := p.(map[string]any); ok {
		m["clientId"] = "mutated"
		if list, ok := m["permissions"].([]any); ok && len(list) > 0 {
			list[0] = "mutated"
		}
	}
	return out
}

func (w *propsReader) Typed() (perms, error) { return workers.PropsAs[perms](w.Ctx) }

// Through calls Props on the "PROPS" binding of its own Env.
func (w *propsReader) Through() (any, error) {
	return w.Env.Service("PROPS").Call(w.Ctx, "Props")
}

func TestProps(t *testing.T) {
	props := map[string]any{"clientId": "frontend", "permissions": []any{"read", "write"}}
	reg := newRegistry(t)
	register(t, reg, "props", workers.Worker{Default: workers.New[propsReader]()})
	register(t, reg, "caller", workers.Worker{
		Default:  workers.New[propsReader](),
		Services: []workers.Service{{Binding: "PROPS", Service: "props", Props: props}},
	})
	const want = "map[clientId:frontend permissions:[read write]]"

	b := reg.Bind(workers.Service{Service: "props", Props: props})
	for i := range 3 {
		got, err := b.Call(t.Context(), "Props")
		require.NoError(t, err)
		assert.Equal(t, want, got, "invocation %d saw another's change", i)
	}
	assert.Equal(t, map[string]any{"clientId": "frontend", "permissions": []any{"read", "write"}}, props,
		"the callee changed the caller's props")

	for i := range 2 {
		got, err := bind(reg, "caller").Call(t.Context(), "Through")
		require.NoError(t, err)
		assert.Equal(t, want, got, "props of an Env binding, invocation %d", i)
	}

	// An Env binding's props were copied at Register.
	props["clientId"] = "changed after Register"
	got, err := bind(reg, "caller").Call(t.Context(), "Through")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	typed, err := workers.Call[perms](t.Context(), reg.Bind(workers.Service{Service: "props", Props: map[string]any{
		"clientId": "frontend", "permissions": []any{"read"},
	}}), "Typed")
	require.NoError(t, err)
	assert.Equal(t, perms{ClientID: "frontend", Permissions: []string{"read"}}, typed)

	typed, err = workers.Call[perms](t.Context(), reg.Bind(workers.Service{Service: "props", Props: perms{ClientID: "x"}}), "Typed")
	require.NoError(t, err)
	assert.Equal(t, perms{ClientID: "x"}, typed)

	got, err = bind(reg, "props").Call(t.Context(), "Props")
	require.NoError(t, err)
	assert.Equal(t, "<nil>", got, "no props")

	_, err = reg.Bind(workers.Service{Service: "props", Props: map[string]any{"c": make(chan int)}}).Call(t.Context(), "Props")
	require.ErrorIs(t, err, workers.ErrInvalidArgument, "props that cannot be copied")
	assert.Contains(t, err.Error(), "props")

	_, err = workers.Call[perms](t.Context(), reg.Bind(workers.Service{Service: "props", Props: "text"}), "Typed")
	require.Error(t, err, "props that do not decode")
}

// PassThroughOnException.

type passer struct{ workers.Entrypoint }

func (w *passer) Fetch(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("pass") == "1" {
		w.Ctx.PassThroughOnException()
	}
	switch r.URL.Path {
	case "/error":
		return nil, errShape
	case "/panic":
		panic("fetch exploded")
	}
	return workers.NewResponse(http.StatusOK, "from worker"), nil
}

var origin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Origin", "yes")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "from origin "+r.URL.Path)
})

func TestPassThroughOnException(t *testing.T) {
	tests := []struct {
		name   string
		origin bool
		url    string
		body   string // "" when an error is expected
		status int
		err    error
	}{
		{"error passes through", true, "/error?pass=1", "from origin /error", http.StatusAccepted, nil},
		{"panic passes through", true, "/panic?pass=1", "from origin /panic", http.StatusAccepted, nil},
		{"success is the worker's", true, "/ok?pass=1", "from worker", http.StatusOK, nil},
		{"error without the call", true, "/error", "", 0, errShape},
		{"panic without the call", true, "/panic", "", 0, nil},
		{"error without an origin", false, "/error?pass=1", "", 0, errShape},
		{"panic without an origin", false, "/panic?pass=1", "", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []workers.Option
			if tc.origin {
				opts = append(opts, workers.WithOrigin(origin))
			}
			reg := newRegistry(t, opts...)
			register(t, reg, "passer", workers.Worker{Default: workers.New[passer]()})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://passer"+tc.url, nil)
			require.NoError(t, err)

			resp, err := bind(reg, "passer").Fetch(req)
			if tc.body == "" {
				require.Error(t, err)
				assert.Nil(t, resp)
				if tc.err != nil {
					assert.ErrorIs(t, err, tc.err)
				} else {
					var pe *workers.PanicError
					require.ErrorAs(t, err, &pe)
					assert.Equal(t, "fetch exploded", pe.Value)
				}
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(body))
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.status == http.StatusAccepted {
				assert.Equal(t, "yes", resp.Header.Get("X-Origin"))
			}
		})
	}
}

func TestWaitUntilAfterInvocationAndClose(t *testing.T) {
	var buf syncBuffer
	reg, b, _ := newTasker(t, workers.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	var leaked *workers.Ctx
	_, err := b.Call(t.Context(), "Leak", func(c *workers.Ctx) { leaked = c })
	require.NoError(t, err)
	require.NotNil(t, leaked)

	// After the invocation, before Close: the task still runs and is waited for.
	ran := make(chan struct{})
	leaked.WaitUntil(func(context.Context) error { close(ran); return nil })
	<-ran
	require.NoError(t, reg.Close(context.Background()))

	// After Close has drained: the task is refused and logged, not run.
	var late atomic.Bool
	require.NotPanics(t, func() {
		leaked.WaitUntil(func(context.Context) error { late.Store(true); return nil })
	})
	assert.False(t, late.Load())
	assert.Contains(t, buf.String(), "WaitUntil after Close")
}

// rpcPasser asks for pass-through in an RPC method, where it means nothing.
type rpcPasser struct{ workers.Entrypoint }

func (w *rpcPasser) Fail() error {
	w.Ctx.PassThroughOnException()
	return errShape
}

func TestPassThroughOnExceptionIgnoredByRPC(t *testing.T) {
	reg := newRegistry(t, workers.WithOrigin(origin))
	register(t, reg, "rpc", workers.Worker{Default: workers.New[rpcPasser]()})
	_, err := bind(reg, "rpc").Call(t.Context(), "Fail")
	require.ErrorIs(t, err, errShape)
}
