// Package workerstest is a test kit for workers, as vitest-pool-workers and
// Miniflare are for Cloudflare's and weavertest is for Service Weaver's: a
// fresh registry per test, workers loaded from their wrangler files, fakes
// for bindings, a way to wait for WaitUntil tasks, a mode in which every
// call crosses the encoding of a remote call, and a runner that runs one
// test against its workers in-process, serialized, and served over
// HTTP/2, in this process or another.
//
//	func TestSignup(t *testing.T) {
//		reg := workerstest.New(t) // state under t.TempDir(), closed at the end
//		workerstest.Load(t, reg, "signup/wrangler.toml", workers.Worker{Default: workers.New[Signup]()},
//			workerstest.Service("MAILER", func(ctx context.Context, method string, args []any) (any, error) {
//				return nil, nil // a fake mailer
//			}))
//		ctx, tasks := workerstest.Tasks(t.Context())
//		_, err := reg.Bind(workers.Service{Service: "signup"}).Call(ctx, "Signup", "a@example.com")
//		require.NoError(t, err)
//		require.NoError(t, tasks.Wait(ctx)) // the welcome mail went out
//	}
package workerstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/remote"
)

// TB is what the kit needs of a test: *testing.T and *testing.B are TBs,
// and so is anything with these methods of testing.TB.
type TB interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Name() string
	Log(args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var _ TB = testing.TB(nil)

// CloseTimeout is how long the end of a test waits for a registry's calls
// and WaitUntil tasks before it fails the test.
var CloseTimeout = 10 * time.Second

// New returns a registry for one test: its state (D1 databases) under
// t.TempDir(), its log in the test's log (see [testing.T.Log]), and closed
// when the test ends, which fails the test if the registry's calls and
// tasks do not drain within [CloseTimeout]. opts come after those
// defaults, so a WithLogger or WithStateDir of the test's own wins.
func New(t TB, opts ...workers.Option) *workers.Registry {
	t.Helper()
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) }) // runs last: after Close
	defaults := []workers.Option{
		workers.WithStateDir(t.TempDir()),
		workers.WithLogger(slog.New(&testHandler{t: t, ended: &ended, level: slog.LevelInfo})),
	}
	reg := workers.NewRegistry(append(defaults, opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			t.Errorf("workerstest: closing the registry: %v", err)
		}
	})
	return reg
}

// Serialized is the option under which every in-process call of the
// registry crosses the encoding of a remote call (see [remote.Serialize]),
// so that a value that could not reach a remote worker fails the test:
//
//	reg := workerstest.New(t, workerstest.Serialized())
func Serialized() workers.Option {
	return workers.WithInterceptors(remote.Serialize())
}

// Load loads the wrangler file at path and registers code under its name
// in reg, as [workers.Registry.RegisterConfig] does, with some of its
// bindings replaced for this test (see [Binding] and [Service]). It fails
// the test when the file or a replacement cannot be used.
func Load(t TB, reg *workers.Registry, path string, code workers.Worker, replace ...Replacement) *workers.Config {
	t.Helper()
	cfg, err := workers.LoadConfig(path)
	if err != nil {
		t.Fatalf("workerstest: %v", err)
	}
	code.Bindings = maps(code.Bindings)
	code.Services = slices.Clone(code.Services)
	for _, r := range replace {
		if err := r.apply(t, reg, cfg, &code); err != nil {
			t.Fatalf("workerstest: %s: %v", path, err)
		}
	}
	if err := reg.RegisterConfig(cfg, code); err != nil {
		t.Fatalf("workerstest: %v", err)
	}
	return cfg
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A Replacement swaps one binding of a worker that [Load] loads for a fake.
type Replacement struct {
	name    string
	value   any
	service bool
}

// Binding replaces the binding called name with value: a var with another
// value (Env.Var, Env.Get), and anything else (a D1 database, a service
// binding, any other) with value as an ordinary binding (Env.Get,
// workers.Get).
func Binding(name string, value any) Replacement {
	return Replacement{name: name, value: value}
}

// Service replaces the service binding called name with a fake service
// (see [Fake] for what fake may be), so that the worker's calls through it
// reach the fake, with the binding's props.
func Service(name string, fake any) Replacement {
	return Replacement{name: name, value: fake, service: true}
}

var fakes atomic.Int64

func (r Replacement) apply(t TB, reg *workers.Registry, cfg *workers.Config, code *workers.Worker) error {
	found := false
	var props any
	for i, s := range cfg.Services {
		if s.Binding == r.name {
			if s.Props != nil {
				props = s.Props
			}
			cfg.Services = slices.Delete(slices.Clone(cfg.Services), i, i+1)
			found = true
			break
		}
	}
	for i, s := range code.Services {
		if s.Binding == r.name {
			props = s.Props
			code.Services = slices.Delete(code.Services, i, i+1)
			found = true
			break
		}
	}
	for i, d := range cfg.D1Databases {
		if d.Binding == r.name {
			cfg.D1Databases = slices.Delete(slices.Clone(cfg.D1Databases), i, i+1)
			found = true
			break
		}
	}
	_, inCfg := cfg.Vars[r.name]
	_, inCode := code.Vars[r.name]
	if (inCfg || inCode) && !r.service {
		// A var stays a var: Env.Var reads it.
		cfg.Vars = maps(cfg.Vars)
		delete(cfg.Vars, r.name)
		code.Vars = maps(code.Vars)
		code.Vars[r.name] = r.value
		return nil
	}
	if inCfg || inCode {
		cfg.Vars, code.Vars = maps(cfg.Vars), maps(code.Vars)
		delete(cfg.Vars, r.name)
		delete(code.Vars, r.name)
		found = true
	}
	if _, ok := code.Bindings[r.name]; ok {
		delete(code.Bindings, r.name)
		found = true
	}
	if !found {
		return fmt.Errorf("worker %q has no binding %q to replace", cfg.Name, r.name)
	}
	if !r.service {
		code.Bindings[r.name] = r.value
		return nil
	}
	name := fmt.Sprintf("workerstest.fake.%s.%s.%d", cfg.Name, r.name, fakes.Add(1))
	if err := register(reg, name, r.value); err != nil {
		return err
	}
	code.Services = append(code.Services, workers.Service{Binding: r.name, Service: name, Props: props})
	return nil
}

// TaskGroup is the WaitUntil tasks of the calls made with one context.
type TaskGroup struct{ g link.Tasks }

// Tasks returns a copy of ctx whose calls, and the calls they make in this
// process, count their WaitUntil tasks in the returned group, so that a
// test can wait for the background work of one call without closing the
// registry: tasks of worker calls ([workers.Ctx.WaitUntil]), of Durable
// Object calls ([workers.DurableObjectState.WaitUntil], while the call
// runs), and of calls served, in any registry of this process, for a
// remote peer of this process ([Connect], the InMemoryRemote mode of
// [Run]): the group's id crosses in the call metadata. Tasks of a worker in
// another process (the Subprocess mode) run, and are waited for, there.
func Tasks(ctx context.Context) (context.Context, *TaskGroup) {
	g := &TaskGroup{}
	g.g.Collect = true
	return link.WithTasks(ctx, &g.g), g
}

// Wait waits until every task of the group so far has ended, or ctx ends,
// and returns the tasks' errors (a panic is an error) and ctx's, joined.
func (g *TaskGroup) Wait(ctx context.Context) error { return g.g.Wait(ctx) }

// WaitAll waits until every WaitUntil task of reg has ended (those
// started while it waits too), or ctx ends, without closing reg. It
// returns ctx's error; the tasks' own errors are in reg's log.
func WaitAll(ctx context.Context, reg *workers.Registry) error {
	return hooks().Tasks(reg.Bind(workers.Service{})).Wait(ctx)
}

func hooks() *link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env] {
	return link.Runtime.(*link.Hooks[*workers.Binding, *workers.Ctx, *workers.Env])
}

// testHandler writes a registry's log to its test's log, and to stderr
// once the test has ended.
type testHandler struct {
	t     TB
	ended *atomic.Bool
	level slog.Level
	attrs []slog.Attr
	group string
}

func (h *testHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	var buf []byte
	buf = fmt.Appendf(buf, "%s %s", r.Level, r.Message)
	add := func(a slog.Attr) bool {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		buf = fmt.Appendf(buf, " %s=%q", a.Key, a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if h.ended.Load() {
		_, err := fmt.Fprintf(os.Stderr, "%s (after %s ended)\n", buf, h.t.Name())
		return err
	}
	h.t.Log(string(buf))
	return nil
}

func (h *testHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), attrs...)
	return &c
}

func (h *testHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
