package workers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// calc is the workhorse of the tests: a few RPC methods and state that must
// not survive an invocation.
type calc struct {
	workers.Entrypoint
	hits int
}

func (w *calc) Add(a, b int) int { return a + b }

// Hit counts on the instance: 1 every time on a fresh instance.
func (w *calc) Hit() int {
	w.hits++
	return w.hits
}

// instances records what each invocation saw when its method started.
type instances struct {
	mu   sync.Mutex
	ptrs []*probe
	envs []*workers.Env
	ctxs []*workers.Ctx
}

type probe struct{ workers.Entrypoint }

func (w *probe) Record() {
	rec, _ := workers.Get[*instances](w.Env, "REC")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.ptrs = append(rec.ptrs, w)
	rec.envs = append(rec.envs, w.Env)
	rec.ctxs = append(rec.ctxs, w.Ctx)
}

func (w *probe) Fetch(*http.Request) (*http.Response, error) {
	w.Record()
	return workers.NewResponse(http.StatusOK, "ok"), nil
}

func TestFreshInstancePerInvocation(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "calc")
	for i := range 3 {
		n, err := workers.Call[int](t.Context(), b, "Hit")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "call %d saw state of an earlier invocation", i)
	}
}

func TestFreshInstanceEnvAndCtxFilled(t *testing.T) {
	rec := &instances{}
	var made []*probe
	reg := newRegistry(t)
	register(t, reg, "probe", workers.Worker{
		Default:  workers.NewFunc(func() *probe { p := &probe{}; made = append(made, p); return p }),
		Bindings: map[string]any{"REC": rec},
	})
	b := bind(reg, "probe")

	_, err := b.Call(t.Context(), "Record")
	require.NoError(t, err)
	_, err = b.Call(t.Context(), "Record")
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://probe/", nil)
	require.NoError(t, err)
	resp, err := b.Fetch(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	require.Len(t, rec.ptrs, 3)
	assert.Equal(t, made, rec.ptrs, "each invocation runs on the instance its constructor made")
	assert.NotSame(t, rec.ptrs[0], rec.ptrs[1])
	assert.NotSame(t, rec.ptrs[1], rec.ptrs[2])
	assert.NotSame(t, rec.ptrs[0], rec.ptrs[2])
	for i := range 3 {
		assert.NotNil(t, rec.envs[i], "Env of invocation %d", i)
		assert.NotNil(t, rec.ctxs[i], "Ctx of invocation %d", i)
		assert.Same(t, rec.envs[0], rec.envs[i], "one Env is shared by all invocations")
	}
	assert.NotSame(t, rec.ctxs[0], rec.ctxs[1], "each invocation has its own Ctx")
	assert.NotSame(t, rec.ctxs[1], rec.ctxs[2])
	assert.Equal(t, "probe", rec.envs[0].Worker())
}

// Exposure: the worker's own methods and those of its own embedded types.

type ptrHelper struct{}

func (*ptrHelper) FromPtr() string { return "ptr" }

type valHelper struct{}

func (valHelper) FromVal() string { return "val" }

type embeddedPtrHelper struct{ name string }

func (h *embeddedPtrHelper) FromEmbeddedPtr() string { return h.name }

type exposed struct {
	workers.Entrypoint
	ptrHelper
	valHelper
	*embeddedPtrHelper
	Field int
}

func (w *exposed) Own() string    { return "own" }
func (w exposed) OwnVal() string  { return "ownval" }
func (w *exposed) hidden() string { return "hidden" }

func (w *exposed) Fetch(*http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, w.hidden()), nil
}

func TestExposure(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "exposed", workers.Worker{
		Entrypoints: map[string]workers.Constructor{
			"Main": workers.NewFunc(func() *exposed { return &exposed{embeddedPtrHelper: &embeddedPtrHelper{name: "emb"}} }),
		},
	})
	b := reg.Bind(workers.Service{Service: "exposed", Entrypoint: "Main"})

	callable := []struct{ method, want string }{
		{"Own", "own"},
		{"OwnVal", "ownval"},
		{"FromPtr", "ptr"},
		{"FromVal", "val"},
		{"FromEmbeddedPtr", "emb"},
	}
	for _, tc := range callable {
		t.Run(tc.method, func(t *testing.T) {
			got, err := workers.Call[string](t.Context(), b, tc.method)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	hidden := []struct {
		method string
		want   error
	}{
		{"hidden", workers.ErrMethodNotFound},
		{"Field", workers.ErrMethodNotFound},
		{"Env", workers.ErrMethodNotFound},
		{"Ctx", workers.ErrMethodNotFound},
		{"Entrypoint", workers.ErrMethodNotFound},
		{"base", workers.ErrMethodNotFound},
		{"WaitUntil", workers.ErrMethodNotFound},
		{"Props", workers.ErrMethodNotFound},
		{"ptrHelper", workers.ErrMethodNotFound},
		{"", workers.ErrMethodNotFound},
		{"Fetch", workers.ErrReservedMethod},
	}
	for _, tc := range hidden {
		t.Run("not/"+tc.method, func(t *testing.T) {
			got, err := b.Call(t.Context(), tc.method)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), `"exposed"`, "names the service")
			assert.Contains(t, err.Error(), `"Main"`, "names the entrypoint")
		})
	}
}

func TestReservedFetchMessage(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "exposed", workers.Worker{Default: workers.New[exposed]()})
	_, err := bind(reg, "exposed").Call(t.Context(), "Fetch")
	require.ErrorIs(t, err, workers.ErrReservedMethod)
	assert.Contains(t, err.Error(), "'Fetch' is a reserved method and cannot be called over RPC")
	assert.NotErrorIs(t, err, workers.ErrMethodNotFound)
}

func TestMethodNotFoundMessage(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calcsvc", workers.Worker{
		Default:     workers.New[calc](),
		Entrypoints: map[string]workers.Constructor{"Admin": workers.New[calc]()},
	})
	tests := []struct {
		method string
		hint   string // "" when no hint is expected
	}{
		{"Nope", ""},
		{"Multiply", ""},
		{"add", "Add"},
		{"ADD", "Add"},
		{"Ad", "Add"},
		{"Addd", "Add"},
		{"hit", "Hit"},
		{"Hitt", "Hit"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			b := reg.Bind(workers.Service{Service: "calcsvc", Entrypoint: "Admin"})
			_, err := b.Call(t.Context(), tc.method)
			require.ErrorIs(t, err, workers.ErrMethodNotFound)
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("The RPC receiver does not implement the method %q.", tc.method))
			assert.Contains(t, msg, `"calcsvc"`)
			assert.Contains(t, msg, `"Admin"`)
			if tc.hint == "" {
				assert.NotContains(t, msg, "Did you mean")
			} else {
				assert.Contains(t, msg, fmt.Sprintf("Did you mean %q?", tc.hint))
			}
		})
	}
}

// shapes has one method of every accepted shape and some that are not.
type shapes struct{ workers.Entrypoint }

var errShape = errors.New("shape failed")

func (w *shapes) None()      {}
func (w *shapes) One() int   { return 1 }
func (w *shapes) Nil() error { return nil }
func (w *shapes) Err() error { return errShape }
func (w *shapes) Both(fail bool) (string, error) {
	if fail {
		return "ignored", errShape
	}
	return "both", nil
}

func (w *shapes) WithCtx(ctx context.Context, a int) (int, error) {
	if ctx != context.Context(w.Ctx) {
		return 0, errors.New("the context parameter is not the invocation's Ctx")
	}
	return a, nil
}

func (w *shapes) Sum(xs ...int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func (w *shapes) Join(ctx context.Context, sep string, parts ...string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += sep
		}
		out += p
	}
	return out
}

func (w *shapes) Three() (int, int, error)      { panic("Three must not be called") }
func (w *shapes) ErrFirst() (error, int)        { panic("ErrFirst must not be called") }
func (w *shapes) TwoValues() (int, string)      { panic("TwoValues must not be called") }
func (w *shapes) ThreeNoErr() (int, int, int)   { panic("ThreeNoErr must not be called") }
func (w *shapes) CtxOnly(context.Context) error { return nil }

func TestMethodShapes(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "shapes", workers.Worker{Default: workers.New[shapes]()})
	b := bind(reg, "shapes")
	tests := []struct {
		method string
		args   []any
		want   any
		err    error
	}{
		{method: "None", want: nil},
		{method: "One", want: 1},
		{method: "Nil", want: nil},
		{method: "Err", err: errShape},
		{method: "Both", args: []any{false}, want: "both"},
		{method: "Both", args: []any{true}, err: errShape},
		{method: "WithCtx", args: []any{7}, want: 7},
		{method: "CtxOnly", want: nil},
		{method: "Sum", want: 0},
		{method: "Sum", args: []any{1}, want: 1},
		{method: "Sum", args: []any{1, 2, 3, int8(4)}, want: 10},
		{method: "Join", args: []any{"-"}, want: ""},
		{method: "Join", args: []any{"-", "a", "b", "c"}, want: "a-b-c"},
		{method: "Join", err: workers.ErrInvalidArgument},
		{method: "Sum", args: []any{1, "two"}, err: workers.ErrInvalidArgument},
		{method: "Sum", args: []any{[]int{1, 2}}, err: workers.ErrInvalidArgument},
		{method: "None", args: []any{1}, err: workers.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%v", tc.method, tc.args), func(t *testing.T) {
			got, err := b.Call(t.Context(), tc.method, tc.args...)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Nil(t, got, "no result with an error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestUnsupportedShapes(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "shapes", workers.Worker{Default: workers.New[shapes]()})
	b := bind(reg, "shapes")
	tests := []struct {
		method string
		why    string
	}{
		{"Three", "3 results"},
		{"ThreeNoErr", "3 results"},
		{"ErrFirst", "second result is int, not error"},
		{"TwoValues", "second result is string, not error"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			_, err := b.Call(t.Context(), tc.method)
			require.ErrorIs(t, err, workers.ErrMethodNotFound, "the method must not run")
			var pe *workers.PanicError
			assert.NotErrorAs(t, err, &pe)
			assert.Contains(t, err.Error(), tc.method)
			assert.Contains(t, err.Error(), tc.why)
			assert.Contains(t, err.Error(), "cannot be called over RPC")
		})
	}
}

// Named entrypoints are permission boundaries.

type publicAPI struct{ workers.Entrypoint }

func (w *publicAPI) Balance() int { return 100 }

type adminAPI struct{ workers.Entrypoint }

func (w *adminAPI) Balance() int { return 100 }
func (w *adminAPI) Reset() int   { return 0 }

type reportAPI struct{ workers.Entrypoint }

func (w *reportAPI) Report() string { return "report" }

func TestNamedEntrypoints(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "bank", workers.Worker{
		Default: workers.New[publicAPI](),
		Entrypoints: map[string]workers.Constructor{
			"Admin":   workers.New[adminAPI](),
			"Reports": workers.New[reportAPI](),
		},
	})
	register(t, reg, "nodefault", workers.Worker{
		Entrypoints: map[string]workers.Constructor{"Only": workers.New[reportAPI]()},
	})

	tests := []struct {
		name       string
		svc        workers.Service
		method     string
		want       any
		err        error
		msgContain []string
	}{
		{name: "default by empty name", svc: workers.Service{Service: "bank"}, method: "Balance", want: 100},
		{name: "default by name", svc: workers.Service{Service: "bank", Entrypoint: "default"}, method: "Balance", want: 100},
		{name: "default cannot reset", svc: workers.Service{Service: "bank"}, method: "Reset", err: workers.ErrMethodNotFound},
		{name: "default cannot report", svc: workers.Service{Service: "bank"}, method: "Report", err: workers.ErrMethodNotFound},
		{name: "admin resets", svc: workers.Service{Service: "bank", Entrypoint: "Admin"}, method: "Reset", want: 0},
		{name: "admin balance", svc: workers.Service{Service: "bank", Entrypoint: "Admin"}, method: "Balance", want: 100},
		{name: "admin cannot report", svc: workers.Service{Service: "bank", Entrypoint: "Admin"}, method: "Report", err: workers.ErrMethodNotFound,
			msgContain: []string{`"bank"`, `"Admin"`, `"Report"`}},
		{name: "reports cannot reset", svc: workers.Service{Service: "bank", Entrypoint: "Reports"}, method: "Reset", err: workers.ErrMethodNotFound},
		{name: "reports report", svc: workers.Service{Service: "bank", Entrypoint: "Reports"}, method: "Report", want: "report"},
		{name: "unknown entrypoint", svc: workers.Service{Service: "bank", Entrypoint: "Root"}, method: "Reset", err: workers.ErrEntrypointNotFound,
			msgContain: []string{`"bank"`, `"Root"`, "no such named entrypoint", "Admin", "Reports"}},
		{name: "entrypoint names are case sensitive", svc: workers.Service{Service: "bank", Entrypoint: "admin"}, method: "Reset", err: workers.ErrEntrypointNotFound},
		{name: "no default", svc: workers.Service{Service: "nodefault"}, method: "Report", err: workers.ErrEntrypointNotFound,
			msgContain: []string{`"nodefault"`, "no default entrypoint"}},
		{name: "named without default", svc: workers.Service{Service: "nodefault", Entrypoint: "Only"}, method: "Report", want: "report"},
		{name: "unknown service", svc: workers.Service{Service: "nobank"}, method: "Balance", err: workers.ErrServiceNotFound,
			msgContain: []string{`"nobank"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reg.Bind(tc.svc).Call(t.Context(), tc.method)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				for _, s := range tc.msgContain {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// Locked embeds a standard library type: its Lock and Unlock are not RPC
// methods, while the user's own embedded base type stays callable.
type Locked struct {
	workers.Entrypoint
	sync.Mutex
	userBase
}

type userBase struct{}

func (userBase) Base() string { return "base" }

func (l *Locked) Own() string { return "own" }

func TestStdlibEmbeddedMethodsNotExposed(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "locked", workers.Worker{Default: workers.New[Locked]()})
	b := bind(reg, "locked")
	for _, m := range []string{"Lock", "Unlock", "TryLock"} {
		_, err := b.Call(t.Context(), m)
		assert.ErrorIs(t, err, workers.ErrMethodNotFound, m)
	}
	got, err := b.Call(t.Context(), "Base")
	require.NoError(t, err)
	assert.Equal(t, "base", got)
	got, err = b.Call(t.Context(), "Own")
	require.NoError(t, err)
	assert.Equal(t, "own", got)
}

// layered embeds Entrypoint one level down and after other fields, so the
// runtime must find it at an offset; the fields around it must survive.
type layered struct {
	Before [3]uint64
	base
	After string
}

type base struct {
	Tag string
	workers.Entrypoint
}

// Check reports what the instance holds: Env and Ctx filled, the rest as
// the constructor left it. Two parameters take a shim; four take reflection.
func (w *layered) Check(a, b int) string { return w.report() + fmt.Sprint(a+b) }

func (w *layered) Check4(a, b, c, d int) string { return w.report() + fmt.Sprint(a+b+c+d) }

func (w *layered) Fetch(*http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, w.report()), nil
}

func (w *layered) report() string {
	env, _ := workers.Get[string](w.Env, "NAME")
	return fmt.Sprintf("%v %q %q %s depth=%d ", w.Before, w.Tag, w.After, env, w.Ctx.Depth())
}

func TestEntrypointAtAnOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		code workers.Constructor
		want string
	}{
		{"New", workers.New[layered](), `[0 0 0] "" "" layered depth=1 `},
		{"NewFunc", workers.NewFunc(func() *layered {
			return &layered{Before: [3]uint64{1, 2, 3}, base: base{Tag: "t"}, After: "a"}
		}), `[1 2 3] "t" "a" layered depth=1 `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			register(t, reg, "layered", workers.Worker{Default: tc.code, Bindings: map[string]any{"NAME": "layered"}})
			b := bind(reg, "layered")

			got, err := workers.Call[string](t.Context(), b, "Check", 1, 2)
			require.NoError(t, err)
			assert.Equal(t, tc.want+"3", got)

			got, err = workers.Call[string](t.Context(), b, "Check4", 1, 2, 3, 4)
			require.NoError(t, err)
			assert.Equal(t, tc.want+"10", got)

			_, body := get(t, t.Context(), b, "/")
			assert.Equal(t, tc.want, body)
		})
	}
}
