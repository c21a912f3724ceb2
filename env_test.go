package workers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// envGrabber hands its Env to a callback: funcs cross by reference.
type envGrabber struct{ workers.Entrypoint }

func (w *envGrabber) Grab(f func(*workers.Env)) { f(w.Env) }

// envOf returns the Env of worker name, as its invocations see it.
func envOf(t *testing.T, reg *workers.Registry, name string) *workers.Env {
	t.Helper()
	var env *workers.Env
	_, err := bind(reg, name).Call(t.Context(), "Grab", func(e *workers.Env) { env = e })
	require.NoError(t, err)
	require.NotNil(t, env)
	return env
}

type client struct{ name string }

func newEnvWorker(t *testing.T) (*workers.Registry, *workers.Env, *client) {
	t.Helper()
	cl := &client{name: "api"}
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	register(t, reg, "app", workers.Worker{
		Default: workers.New[envGrabber](),
		Vars: map[string]any{
			"GREETING": "Hello",
			"EMPTY":    "",
			"LIMITS":   map[string]any{"max": 3, "tags": []any{"a", "b"}},
			"COUNT":    3,
			"RATIO":    0.5,
			"ON":       true,
			"LIST":     []any{1, "two"},
			"NULL":     nil,
		},
		Services: []workers.Service{
			{Binding: "CALC", Service: "calc"},
			{Binding: "GHOST", Service: "ghost"},
		},
		Bindings: map[string]any{"CLIENT": cl, "NUMBER": 42},
	})
	return reg, envOf(t, reg, "app"), cl
}

func TestEnvVar(t *testing.T) {
	_, env, _ := newEnvWorker(t)
	tests := []struct{ name, want string }{
		{"GREETING", "Hello"},
		{"EMPTY", ""},
		{"LIMITS", `{"max":3,"tags":["a","b"]}`},
		{"COUNT", "3"},
		{"RATIO", "0.5"},
		{"ON", "true"},
		{"LIST", `[1,"two"]`},
		{"NULL", "null"},
		{"MISSING", ""},
		{"CALC", ""},   // a service, not a var
		{"CLIENT", ""}, // a binding, not a var
		{"greeting", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, env.Var(tc.name))
		})
	}
}

func TestEnvGet(t *testing.T) {
	_, env, cl := newEnvWorker(t)

	v, ok := env.Get("GREETING")
	require.True(t, ok)
	assert.Equal(t, "Hello", v)

	v, ok = env.Get("LIMITS")
	require.True(t, ok)
	limits, isMap := v.(map[string]any)
	require.True(t, isMap, "a JSON var is its Go value, not text: %T", v)
	assert.Equal(t, map[string]any{"max": 3, "tags": []any{"a", "b"}}, limits)

	// The values returned are copies: the shared Env stays read-only.
	limits["max"] = 100
	limits["tags"].([]any)[0] = "changed"
	again, _ := env.Get("LIMITS")
	assert.Equal(t, map[string]any{"max": 3, "tags": []any{"a", "b"}}, again)
	assert.Equal(t, `{"max":3,"tags":["a","b"]}`, env.Var("LIMITS"))

	v, ok = env.Get("NULL")
	assert.True(t, ok, "a null var exists")
	assert.Nil(t, v)

	v, ok = env.Get("CALC")
	require.True(t, ok)
	b, isBinding := v.(*workers.Binding)
	require.True(t, isBinding, "a service is a *Binding: %T", v)
	assert.Same(t, env.Service("CALC"), b)
	assert.Equal(t, workers.Service{Binding: "CALC", Service: "calc"}, b.Target())

	v, ok = env.Get("CLIENT")
	require.True(t, ok)
	assert.Same(t, cl, v, "other bindings are returned as registered")

	v, ok = env.Get("MISSING")
	assert.False(t, ok)
	assert.Nil(t, v)

	assert.Equal(t, []string{"CALC", "CLIENT", "COUNT", "EMPTY", "GHOST", "GREETING", "LIMITS", "LIST", "NULL", "NUMBER", "ON", "RATIO"}, env.Names())
	assert.Equal(t, "app", env.Worker())
}

func TestEnvVarsAreCopiedAtRegister(t *testing.T) {
	limits := map[string]any{"max": 3}
	reg := newRegistry(t)
	register(t, reg, "app", workers.Worker{
		Default: workers.New[envGrabber](),
		Vars:    map[string]any{"LIMITS": limits},
	})
	limits["max"] = 100
	env := envOf(t, reg, "app")
	v, _ := env.Get("LIMITS")
	assert.Equal(t, map[string]any{"max": 3}, v)
	assert.Equal(t, `{"max":3}`, env.Var("LIMITS"))
}

func TestEnvService(t *testing.T) {
	_, env, _ := newEnvWorker(t)

	sum, err := workers.Call[int](t.Context(), env.Service("CALC"), "Add", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 5, sum)

	tests := []struct {
		binding string
		err     error
		parts   []string
	}{
		{"MISSING", workers.ErrServiceNotFound, []string{`"app"`, `"MISSING"`, "CALC"}},
		{"CLIENT", workers.ErrServiceNotFound, []string{`"app"`, `"CLIENT"`, "another kind"}},
		{"GREETING", workers.ErrServiceNotFound, []string{`"app"`, `"GREETING"`}},
		{"GHOST", workers.ErrServiceNotFound, []string{`"app"`, `"GHOST"`, `"ghost"`}}, // bound, but to nothing
	}
	for _, tc := range tests {
		t.Run(tc.binding, func(t *testing.T) {
			b := env.Service(tc.binding)
			require.NotNil(t, b, "Service is never nil")
			_, err := b.Call(t.Context(), "Add", 1, 2)
			require.ErrorIs(t, err, tc.err)
			for _, p := range tc.parts {
				assert.Contains(t, err.Error(), p)
			}
			_, err = workers.Call[int](t.Context(), b, "Add", 1, 2)
			require.ErrorIs(t, err, tc.err)
		})
	}
}

func TestGetTyped(t *testing.T) {
	_, env, cl := newEnvWorker(t)

	got, ok := workers.Get[*client](env, "CLIENT")
	require.True(t, ok)
	assert.Same(t, cl, got)

	n, ok := workers.Get[int](env, "NUMBER")
	require.True(t, ok)
	assert.Equal(t, 42, n)

	s, ok := workers.Get[string](env, "GREETING")
	require.True(t, ok)
	assert.Equal(t, "Hello", s)

	b, ok := workers.Get[*workers.Binding](env, "CALC")
	require.True(t, ok)
	assert.Same(t, env.Service("CALC"), b)

	_, ok = workers.Get[string](env, "CLIENT")
	assert.False(t, ok, "wrong type")
	_, ok = workers.Get[*client](env, "MISSING")
	assert.False(t, ok, "missing")
	zero, ok := workers.Get[int](env, "GREETING")
	assert.False(t, ok)
	assert.Zero(t, zero)
}

func TestNilEnv(t *testing.T) {
	var env *workers.Env
	require.NotPanics(t, func() {
		assert.Empty(t, env.Var("X"))
		v, ok := env.Get("X")
		assert.False(t, ok)
		assert.Nil(t, v)
		assert.Nil(t, env.Names())
		assert.Empty(t, env.Worker())
		_, ok = workers.Get[string](env, "X")
		assert.False(t, ok)

		b := env.Service("X")
		require.NotNil(t, b)
		_, err := b.Call(t.Context(), "Add", 1, 2)
		assert.ErrorIs(t, err, workers.ErrServiceNotFound)
		assert.Contains(t, err.Error(), `"X"`)
	})
}

func TestNilAndZeroBinding(t *testing.T) {
	var nilB *workers.Binding
	tests := map[string]*workers.Binding{"nil": nilB, "zero": {}}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			require.NotPanics(t, func() {
				_, err := b.Call(t.Context(), "Add", 1, 2)
				assert.ErrorIs(t, err, workers.ErrServiceNotFound)
				_, err = workers.Call[int](t.Context(), b, "Add", 1, 2)
				assert.ErrorIs(t, err, workers.ErrServiceNotFound)
				assert.Equal(t, workers.Service{}, b.Target())
			})
		})
	}
}
