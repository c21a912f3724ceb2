package workers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

type plain struct{ N int }

type ptrEmbed struct{ *workers.Entrypoint }

func (w *ptrEmbed) Add(a, b int) int { return a + b }

type badFetch struct{ workers.Entrypoint }

func (w *badFetch) Fetch(r *http.Request) string { return r.URL.Path }

type badFetchArgs struct{ workers.Entrypoint }

func (w *badFetchArgs) Fetch(ctx context.Context, r *http.Request) (*http.Response, error) {
	return nil, nil
}

// A worker may reach Entrypoint through its own base type.
type baseWorker struct{ workers.Entrypoint }

func (b *baseWorker) FromBase() string { return "base" }

type derived struct{ baseWorker }

func (d *derived) Own() string { return "own" }

// Two Entrypoints at the same depth make base() ambiguous.
type doubleA struct{ workers.Entrypoint }
type doubleB struct{ workers.Entrypoint }
type double struct {
	doubleA
	doubleB
}

func TestRegisterRejects(t *testing.T) {
	tests := []struct {
		name     string
		worker   workers.Worker
		contains []string
	}{
		{"no Entrypoint", workers.Worker{Default: workers.New[plain]()},
			[]string{"workers_test.plain", "does not embed workers.Entrypoint"}},
		{"not a struct", workers.Worker{Default: workers.New[int]()},
			[]string{"int", "not a struct"}},
		{"New of a pointer", workers.Worker{Default: workers.New[*calc]()},
			[]string{"New[*workers_test.calc]", "New[workers_test.calc]"}},
		{"pointer-embedded Entrypoint", workers.Worker{Default: workers.New[ptrEmbed]()},
			[]string{"workers_test.ptrEmbed", "*workers.Entrypoint"}},
		{"ambiguous Entrypoint", workers.Worker{Default: workers.New[double]()},
			[]string{"workers_test.double"}},
		{"NewFunc(nil)", workers.Worker{Default: workers.NewFunc[calc](nil)},
			[]string{"NewFunc[workers_test.calc]", "nil function"}},
		{"wrong Fetch", workers.Worker{Default: workers.New[badFetch]()},
			[]string{"workers_test.badFetch", "Fetch", "Fetch(*http.Request) (*http.Response, error)"}},
		{"wrong Fetch params", workers.Worker{Default: workers.New[badFetchArgs]()},
			[]string{"workers_test.badFetchArgs", "Fetch"}},
		{"bad named entrypoint", workers.Worker{Entrypoints: map[string]workers.Constructor{"Admin": workers.New[plain]()}},
			[]string{`"Admin"`, "workers_test.plain"}},
		{"zero named constructor", workers.Worker{Entrypoints: map[string]workers.Constructor{"Admin": {}}},
			[]string{`"Admin"`, "empty Constructor"}},
		{"named default", workers.Worker{Entrypoints: map[string]workers.Constructor{"default": workers.New[calc]()}},
			[]string{`"default"`, "Worker.Default"}},
		{"empty entrypoint name", workers.Worker{Entrypoints: map[string]workers.Constructor{"": workers.New[calc]()}},
			[]string{"Worker.Default"}},
		{"var and service", workers.Worker{
			Vars:     map[string]any{"X": "1"},
			Services: []workers.Service{{Binding: "X", Service: "calc"}},
		}, []string{`"X"`, "used twice", "vars", "services"}},
		{"service and binding", workers.Worker{
			Services: []workers.Service{{Binding: "X", Service: "calc"}},
			Bindings: map[string]any{"X": 1},
		}, []string{`"X"`, "used twice", "services", "bindings"}},
		{"var and binding", workers.Worker{
			Vars:     map[string]any{"X": "1"},
			Bindings: map[string]any{"X": 1},
		}, []string{`"X"`, "used twice", "vars", "bindings"}},
		{"two services", workers.Worker{
			Services: []workers.Service{{Binding: "X", Service: "calc"}, {Binding: "X", Service: "other"}},
		}, []string{`"X"`, "used twice"}},
		{"empty Service.Service", workers.Worker{
			Services: []workers.Service{{Binding: "CALC"}},
		}, []string{`"CALC"`, "names no service"}},
		{"empty Service.Binding", workers.Worker{
			Services: []workers.Service{{Service: "calc"}},
		}, []string{"empty name"}},
		{"nil binding", workers.Worker{Bindings: map[string]any{"DB": nil}},
			[]string{`"DB"`, "nil"}},
		{"var that is not JSON", workers.Worker{Vars: map[string]any{"F": func() {}}},
			[]string{`"F"`}},
		{"var with a channel", workers.Worker{Vars: map[string]any{"C": make(chan int)}},
			[]string{`"C"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			err := reg.Register("target", tc.worker)
			require.ErrorIs(t, err, workers.ErrInvalidWorker)
			for _, s := range tc.contains {
				assert.Contains(t, err.Error(), s)
			}

			// Nothing was left behind: the name is still free.
			_, err = bind(reg, "target").Call(t.Context(), "Add", 1, 2)
			require.ErrorIs(t, err, workers.ErrServiceNotFound)
			register(t, reg, "target", workers.Worker{Default: workers.New[calc]()})
		})
	}
}

func TestRegisterDuplicateName(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	err := reg.Register("calc", workers.Worker{Default: workers.New[publicAPI]()})
	require.ErrorIs(t, err, workers.ErrInvalidWorker)
	assert.Contains(t, err.Error(), `"calc"`)
	assert.Contains(t, err.Error(), "already registered")

	// The first registration stands.
	sum, err := workers.Call[int](t.Context(), bind(reg, "calc"), "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)

	err = reg.Register("", workers.Worker{Default: workers.New[calc]()})
	require.ErrorIs(t, err, workers.ErrInvalidWorker)
}

func TestRegisterAccepts(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "derived", workers.Worker{Default: workers.New[derived]()})
	register(t, reg, "empty", workers.Worker{})
	register(t, reg, "funcs", workers.Worker{Default: workers.NewFunc(func() *calc { return &calc{} })})

	for method, want := range map[string]string{"FromBase": "base", "Own": "own"} {
		got, err := workers.Call[string](t.Context(), bind(reg, "derived"), method)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := bind(reg, "empty").Call(t.Context(), "Add")
	require.ErrorIs(t, err, workers.ErrEntrypointNotFound)

	// Bindings may be registered before their target.
	register(t, reg, "early", workers.Worker{
		Default:  workers.New[copier](),
		Services: []workers.Service{{Binding: "LATE", Service: "late"}},
	})
	register(t, reg, "late", workers.Worker{Default: workers.New[calc]()})
	assert.NoError(t, reg.Validate())
}

func TestValidate(t *testing.T) {
	reg := newRegistry(t)
	assert.NoError(t, reg.Validate(), "an empty registry")

	register(t, reg, "bank", workers.Worker{
		Default:     workers.New[publicAPI](),
		Entrypoints: map[string]workers.Constructor{"Admin": workers.New[adminAPI]()},
	})
	register(t, reg, "nodefault", workers.Worker{
		Entrypoints: map[string]workers.Constructor{"Only": workers.New[reportAPI]()},
	})
	register(t, reg, "good", workers.Worker{
		Default: workers.New[calc](),
		Services: []workers.Service{
			{Binding: "BANK", Service: "bank"},
			{Binding: "ADMIN", Service: "bank", Entrypoint: "Admin"},
			{Binding: "ONLY", Service: "nodefault", Entrypoint: "Only"},
		},
	})
	require.NoError(t, reg.Validate())

	register(t, reg, "frontend", workers.Worker{
		Default: workers.New[calc](),
		Services: []workers.Service{
			{Binding: "GHOST", Service: "ghost"},
			{Binding: "ROOT", Service: "bank", Entrypoint: "Root"},
			{Binding: "NODEF", Service: "nodefault"},
			{Binding: "OK", Service: "bank"},
		},
	})
	register(t, reg, "backend", workers.Worker{
		Services: []workers.Service{{Binding: "PHANTOM", Service: "phantom"}},
	})

	err := reg.Validate()
	require.Error(t, err)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.ErrorIs(t, err, workers.ErrEntrypointNotFound)

	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4, "one line per dangling binding:\n%s", err)
	want := [][]string{
		{`"backend"`, `"PHANTOM"`, `"phantom"`, "not registered"},
		{`"frontend"`, `"GHOST"`, `"ghost"`, "not registered"},
		{`"frontend"`, `"NODEF"`, `"nodefault"`, "no default entrypoint"},
		{`"frontend"`, `"ROOT"`, `"bank"`, `"Root"`, "no such named entrypoint"},
	}
	for _, parts := range want {
		found := false
		for _, line := range lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			found = found || ok
		}
		assert.True(t, found, "no line holds all of %q in:\n%s", parts, err)
	}
	assert.NotContains(t, err.Error(), `"OK"`)
	assert.NotContains(t, err.Error(), `"good"`)

	// Registering what was missing fixes it.
	register(t, reg, "ghost", workers.Worker{Default: workers.New[calc]()})
	register(t, reg, "phantom", workers.Worker{Default: workers.New[calc]()})
	err = reg.Validate()
	require.Error(t, err)
	assert.NotErrorIs(t, err, workers.ErrServiceNotFound)
	assert.Len(t, strings.Split(err.Error(), "\n"), 2)
}

// blocker holds an invocation open until the test lets it go.
type blocker struct{ workers.Entrypoint }

type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (w *blocker) Hold() string {
	g, _ := workers.Get[*gate](w.Env, "GATE")
	g.entered <- struct{}{}
	<-g.release
	return "done"
}

func (w *blocker) Quick() int { return 1 }

func (w *blocker) Fetch(*http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, "ok"), nil
}

func newBlocker(t *testing.T) (*workers.Registry, *workers.Binding, *gate) {
	t.Helper()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	reg := newRegistry(t)
	register(t, reg, "blocker", workers.Worker{
		Default:  workers.New[blocker](),
		Bindings: map[string]any{"GATE": g},
	})
	return reg, bind(reg, "blocker"), g
}

// waitClosed calls until the registry refuses: Close has begun.
func waitClosed(t *testing.T, b *workers.Binding) {
	t.Helper()
	for {
		_, err := b.Call(context.Background(), "Quick")
		if errors.Is(err, workers.ErrClosed) {
			return
		}
		require.NoError(t, err)
		runtime.Gosched()
	}
}

func TestCloseWaitsForInFlightCalls(t *testing.T) {
	reg, b, g := newBlocker(t)

	type result struct {
		v   string
		err error
	}
	called := make(chan result, 1)
	go func() {
		v, err := workers.Call[string](context.Background(), b, "Hold")
		called <- result{v, err}
	}()
	<-g.entered

	closed := make(chan error, 1)
	go func() { closed <- reg.Close(context.Background()) }()
	waitClosed(t, b)

	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a call was in flight", err)
	default:
	}

	_, err := b.Call(t.Context(), "Quick")
	require.ErrorIs(t, err, workers.ErrClosed)
	assert.Contains(t, err.Error(), `"blocker"`)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://blocker/", nil)
	require.NoError(t, err)
	_, err = b.Fetch(req)
	require.ErrorIs(t, err, workers.ErrClosed)

	err = reg.Register("late", workers.Worker{Default: workers.New[calc]()})
	require.ErrorIs(t, err, workers.ErrClosed)

	close(g.release)
	r := <-called
	require.NoError(t, r.err, "the in-flight call finishes")
	assert.Equal(t, "done", r.v)
	require.NoError(t, <-closed)

	require.NoError(t, reg.Close(context.Background()), "Close twice")
}

func TestCloseWaitCutShort(t *testing.T) {
	reg, b, g := newBlocker(t)
	called := make(chan error, 1)
	go func() {
		_, err := b.Call(context.Background(), "Hold")
		called <- err
	}()
	<-g.entered

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := reg.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithTimeout(t.Context(), 0)
	defer cancel()
	err = reg.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = b.Call(t.Context(), "Quick")
	require.ErrorIs(t, err, workers.ErrClosed)

	close(g.release)
	require.NoError(t, <-called)
	require.NoError(t, reg.Close(context.Background()))
}

func TestCloseIdle(t *testing.T) {
	reg := workers.NewRegistry()
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "calc")
	_, err := b.Call(t.Context(), "Add", 1, 2)
	require.NoError(t, err)

	// Nothing in flight: even an expired ctx does not make Close fail.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, reg.Close(ctx))
	_, err = b.Call(t.Context(), "Add", 1, 2)
	require.ErrorIs(t, err, workers.ErrClosed)
	_, err = reg.Bind(workers.Service{Service: "calc"}).Call(t.Context(), "Add", 1, 2)
	require.ErrorIs(t, err, workers.ErrClosed)
}

func TestBindingResolvesOnceTargetIsRegistered(t *testing.T) {
	reg := newRegistry(t)
	b := bind(reg, "later")
	_, err := b.Call(t.Context(), "Add", 1, 2)
	require.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.Contains(t, err.Error(), `"later"`)

	register(t, reg, "later", workers.Worker{Default: workers.New[calc]()})
	sum, err := workers.Call[int](t.Context(), b, "Add", 1, 2)
	require.NoError(t, err, "a failed lookup is not cached")
	assert.Equal(t, 3, sum)
}

func TestCloseRacingCalls(t *testing.T) {
	reg := workers.NewRegistry()
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "calc")
	start := make(chan struct{})
	errs := make(chan error, 8*100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			<-start
			for i := range 100 {
				sum, err := workers.Call[int](context.Background(), b, "Add", g, i)
				switch {
				case errors.Is(err, workers.ErrClosed):
				case err != nil:
					errs <- err
				case sum != g+i:
					errs <- fmt.Errorf("Add(%d, %d) = %d", g, i, sum)
				}
			}
		})
	}
	close(start)
	require.NoError(t, reg.Close(context.Background()))
	_, err := b.Call(context.Background(), "Add", 1, 2)
	require.ErrorIs(t, err, workers.ErrClosed, "no call starts after Close returned")
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// watched records whether any invocation runs after Close has returned.
var watched struct {
	closed   atomicBool
	violated atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) set()   { b.mu.Lock(); b.v = true; b.mu.Unlock() }
func (b *atomicBool) reset() { b.mu.Lock(); b.v = false; b.mu.Unlock() }
func (b *atomicBool) get() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v
}

type Watched struct{ workers.Entrypoint }

func (w *Watched) Work() {
	if watched.closed.get() {
		watched.violated.set()
	}
	runtime.Gosched()
	if watched.closed.get() {
		watched.violated.set()
	}
}

// Calls racing with Close from many goroutines: each either runs entirely
// before Close returns or fails with ErrClosed; none runs after.
func TestNoCallRunsAfterClose(t *testing.T) {
	for round := range 20 {
		reg := workers.NewRegistry()
		register(t, reg, "watched", workers.Worker{Default: workers.New[Watched]()})
		b := bind(reg, "watched")
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					if _, err := b.Call(context.Background(), "Work"); err != nil {
						assert.ErrorIs(t, err, workers.ErrClosed)
						return
					}
				}
			}()
		}
		close(start)
		runtime.Gosched()
		require.NoError(t, reg.Close(context.Background()), "round %d", round)
		watched.closed.set()
		wg.Wait()
		require.False(t, watched.violated.get(), "round %d: a call ran after Close returned", round)
		watched.closed.reset()
	}
}
