package workers_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// fakeClock is a Clock whose time moves only when a test sets it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan struct{} // a value for each AfterFunc
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, added: make(chan struct{}, 1024)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		stopped := !t.done
		t.done = true
		return stopped
	}
}

// set moves the clock to now and runs, each in its goroutine, the timers
// due by then.
func (c *fakeClock) set(now time.Time) {
	c.mu.Lock()
	c.now = now
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.done && !t.at.After(now) {
			t.done = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// waitPending waits until n timers wait for their time: until the cron
// loops are ready for the clock to move.
func (c *fakeClock) waitPending(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for c.pending() < n {
		select {
		case <-c.added:
		case <-timeout:
			t.Fatalf("%d timers pending, want %d", c.pending(), n)
		}
	}
}

// cronRun is what cronJob saw in one scheduled run.
type cronRun struct {
	ev       workers.ScheduledEvent
	depth    int
	runs     int // of this instance: 1 on a fresh one
	greeting string
	value    any
}

var errCronFailed = errors.New("cron job failed")

// cronJob reports each scheduled run on its RUNS binding. The cron
// "fail" makes it fail, "panic" panic, "wait" start a WaitUntil task that
// ends when its RELEASE channel is closed.
type cronJob struct {
	workers.Entrypoint
	runs int
}

func (w *cronJob) Scheduled(ctx context.Context, ev workers.ScheduledEvent) error {
	w.runs++
	runs, _ := workers.Get[chan cronRun](w.Env, "RUNS")
	runs <- cronRun{ev: ev, depth: w.Ctx.Depth(), runs: w.runs, greeting: w.Env.Var("GREETING"), value: ctx.Value(ctxKey("k"))}
	switch ev.Cron {
	case "fail":
		return errCronFailed
	case "panic":
		panic("cron job panicked")
	case "wait":
		release, _ := workers.Get[chan struct{}](w.Env, "RELEASE")
		done, _ := workers.Get[*sync.WaitGroup](w.Env, "DONE")
		done.Add(1)
		w.Ctx.WaitUntil(func(context.Context) error {
			defer done.Done()
			<-release
			return nil
		})
	}
	return nil
}

func (w *cronJob) Ping() string { return "pong" }

// receive returns the next run, failing the test if none comes.
func receive(t *testing.T, runs <-chan cronRun) cronRun {
	t.Helper()
	select {
	case r := <-runs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no scheduled run")
		return cronRun{}
	}
}

// writeCronConfig writes a wrangler.toml with the given crons and returns
// its path.
func writeCronConfig(t *testing.T, crons string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wrangler.toml")
	require.NoError(t, os.WriteFile(path, []byte("name = \"cron-job\"\n[vars]\nGREETING = \"hi\"\n[triggers]\ncrons = "+crons+"\n"), 0o644))
	return path
}

// Each [triggers] cron runs the default entrypoint's Scheduled when due, in
// UTC, as an invocation: a fresh instance with Env and Ctx at depth 1.
func TestCronTriggers(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 1, 1, 0, 3, 30, 0, time.UTC))
	reg := newRegistry(t, workers.WithClock(clock))
	cfg, err := workers.LoadConfig(writeCronConfig(t, `["*/5 * * * *", "0 * * * *"]`))
	require.NoError(t, err)
	assert.Equal(t, []string{"*/5 * * * *", "0 * * * *"}, cfg.Crons)
	runs := make(chan cronRun, 10)
	require.NoError(t, reg.RegisterConfig(cfg, workers.Worker{
		Default:  workers.New[cronJob](),
		Bindings: map[string]any{"RUNS": runs},
		Crons:    []string{"0 * * * *"}, // also in the file: it runs once
	}))
	clock.waitPending(t, 2)

	clock.set(time.Date(2025, 1, 1, 0, 5, 0, 0, time.UTC))
	r := receive(t, runs)
	assert.Equal(t, workers.ScheduledEvent{Cron: "*/5 * * * *", ScheduledTime: time.Date(2025, 1, 1, 0, 5, 0, 0, time.UTC)}, r.ev)
	assert.Equal(t, 1, r.depth)
	assert.Equal(t, 1, r.runs)
	assert.Equal(t, "hi", r.greeting)
	clock.waitPending(t, 2) // the */5 loop waits for 00:10 now

	// At the hour both fire, each once, each on a fresh instance. A loop
	// fires for the time it waited for (00:10 for */5): runs the clock
	// jumped over are not made up, and the next is due after the hour.
	clock.set(time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC))
	got := map[string]cronRun{}
	for range 2 {
		r := receive(t, runs)
		got[r.ev.Cron] = r
	}
	assert.Equal(t, time.Date(2025, 1, 1, 0, 10, 0, 0, time.UTC), got["*/5 * * * *"].ev.ScheduledTime)
	assert.Equal(t, time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC), got["0 * * * *"].ev.ScheduledTime)
	for cron, r := range got {
		assert.Equal(t, 1, r.runs, cron)
	}
	clock.waitPending(t, 2)
	clock.set(time.Date(2025, 1, 1, 1, 5, 0, 0, time.UTC))
	r = receive(t, runs)
	assert.Equal(t, workers.ScheduledEvent{Cron: "*/5 * * * *", ScheduledTime: time.Date(2025, 1, 1, 1, 5, 0, 0, time.UTC)}, r.ev)
	clock.waitPending(t, 2)

	// Close stops the triggers: their timers are stopped and nothing runs.
	require.NoError(t, reg.Close(t.Context()))
	assert.Zero(t, clock.pending())
	clock.set(time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC))
	assert.Empty(t, runs)
}

// A failing or panicking scheduled event has no caller: it is logged, and
// the trigger keeps running.
func TestCronTriggerFailuresLogged(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 1, 1, 0, 0, 30, 0, time.UTC))
	var logs syncBuffer
	reg := newRegistry(t, workers.WithClock(clock), workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	runs := make(chan cronRun, 10)
	register(t, reg, "cron-job", workers.Worker{
		Default:  workers.New[cronJob](),
		Bindings: map[string]any{"RUNS": runs},
		Crons:    []string{"* * * * *"},
	})
	// The schedule is passed on as written; a handler may switch on it, so
	// this worker's failures are chosen with Registry.Scheduled below and
	// the cron trigger is checked to keep firing around them.
	clock.waitPending(t, 1)
	for i, want := range []error{errCronFailed, nil} {
		cron := []string{"fail", "ok"}[i]
		err := reg.Scheduled(t.Context(), "cron-job", cron)
		assert.ErrorIs(t, err, want)
		receive(t, runs)
	}
	err := reg.Scheduled(t.Context(), "cron-job", "panic")
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "cron job panicked", pe.Value)
	receive(t, runs)

	clock.set(time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC))
	receive(t, runs)
	clock.waitPending(t, 1)
	assert.NotContains(t, logs.String(), "failed", "Registry.Scheduled returns its errors; it does not log them")

	// A cron-fired run that fails is logged, with the stack of a panic.
	reg2 := newRegistry(t, workers.WithClock(clock), workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	register(t, reg2, "panicky", workers.Worker{Default: workers.New[panicky](), Crons: []string{"* * * * *", "*/2 * * * *"}})
	clock.waitPending(t, 3)
	clock.set(time.Date(2025, 1, 1, 0, 2, 0, 0, time.UTC))
	clock.waitPending(t, 3) // each loop fired (and opened its invocation) before it waits again
	receive(t, runs)
	require.NoError(t, reg2.Close(t.Context())) // waits for the events
	assert.Contains(t, logs.String(), `msg="workers: scheduled event failed" service="service \"panicky\"" cron="* * * * *"`)
	assert.Contains(t, logs.String(), `cron="*/2 * * * *" error="workers: service \"panicky\" method \"Scheduled\" panicked: at */2"`)
	assert.Contains(t, logs.String(), "stack=")
}

type panicky struct{ workers.Entrypoint }

func (w *panicky) Scheduled(_ context.Context, ev workers.ScheduledEvent) error {
	if ev.Cron == "* * * * *" {
		return errCronFailed
	}
	panic("at " + ev.Cron[:3])
}

// Registry.Scheduled fires the handler by hand, as an invocation of its
// own: ctx's values reach it, and Close waits for its WaitUntil tasks.
func TestRegistryScheduled(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	reg := workers.NewRegistry(workers.WithClock(clock))
	runs, release, done := make(chan cronRun, 10), make(chan struct{}), &sync.WaitGroup{}
	register(t, reg, "cron-job", workers.Worker{
		Default:  workers.New[cronJob](),
		Vars:     map[string]any{"GREETING": "hello"},
		Bindings: map[string]any{"RUNS": runs, "RELEASE": release, "DONE": done},
	})
	register(t, reg, "plain", workers.Worker{Default: workers.New[cfgProbe]()})

	ctx := context.WithValue(t.Context(), ctxKey("k"), "v")
	require.NoError(t, reg.Scheduled(ctx, "cron-job", "wait"))
	r := receive(t, runs)
	assert.Equal(t, workers.ScheduledEvent{Cron: "wait", ScheduledTime: clock.Now()}, r.ev)
	assert.Equal(t, "v", r.value)
	assert.Equal(t, 1, r.depth)
	assert.Equal(t, "hello", r.greeting)

	err := reg.Scheduled(ctx, "plain", "* * * * *")
	assert.ErrorIs(t, err, workers.ErrNoScheduledHandler)
	assert.ErrorContains(t, err, `service "plain": Handler does not export a Scheduled method`)
	assert.ErrorIs(t, reg.Scheduled(ctx, "nope", ""), workers.ErrServiceNotFound)
	require.NoError(t, reg.RegisterRemote("far", &farTransport{}))
	err = reg.Scheduled(ctx, "far", "")
	assert.ErrorIs(t, err, workers.ErrNoScheduledHandler)
	assert.ErrorContains(t, err, "runs in another process")

	// Close waits for the run's WaitUntil task.
	closed := make(chan error)
	go func() { closed <- reg.Close(context.Background()) }()
	close(release)
	require.NoError(t, <-closed)
	done.Wait() // returns at once: the task ended before Close did
	assert.ErrorIs(t, reg.Scheduled(ctx, "cron-job", ""), workers.ErrClosed)
}

type badScheduled struct{ workers.Entrypoint }

func (w *badScheduled) Scheduled(ev workers.ScheduledEvent) error { return nil }

// Scheduled is reserved for the runtime, as Fetch is; a worker with cron
// triggers needs it on its default entrypoint, and the schedules must parse.
func TestScheduledReserved(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "cron-job", workers.Worker{Default: workers.New[cronJob]()})
	b := bind(reg, "cron-job")
	_, err := b.Call(t.Context(), "Scheduled", workers.ScheduledEvent{})
	assert.ErrorIs(t, err, workers.ErrReservedMethod)
	assert.ErrorContains(t, err, "'Scheduled' is a reserved method and cannot be called over RPC")
	got, err := workers.Call[string](t.Context(), b, "Ping")
	require.NoError(t, err)
	assert.Equal(t, "pong", got)

	tests := []struct {
		name string
		w    workers.Worker
		msg  string
	}{
		{"wrong signature", workers.Worker{Default: workers.New[badScheduled]()}, "must be Scheduled(context.Context, workers.ScheduledEvent) error"},
		{"no handler", workers.Worker{Default: workers.New[cfgProbe](), Crons: []string{"* * * * *"}}, `has cron triggers ["* * * * *"], but its default entrypoint has no Scheduled`},
		{"no default", workers.Worker{Entrypoints: map[string]workers.Constructor{"Jobs": workers.New[cronJob]()}, Crons: []string{"* * * * *"}}, "its default entrypoint has no Scheduled"},
		{"bad cron", workers.Worker{Default: workers.New[cronJob](), Crons: []string{"61 * * * *"}}, `cron trigger "61 * * * *"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reg.Register("bad-"+tt.name, tt.w)
			assert.ErrorIs(t, err, workers.ErrInvalidWorker)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

// With WithTestScheduled, Handler serves wrangler's /__scheduled route;
// without it the path is the worker's, as any other.
func TestHandlerTestScheduled(t *testing.T) {
	var logs syncBuffer
	reg := newRegistry(t, workers.WithTestScheduled(), workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	runs := make(chan cronRun, 10)
	register(t, reg, "cron-job", workers.Worker{Default: workers.New[cronJob](), Bindings: map[string]any{"RUNS": runs}})
	register(t, reg, "plain", workers.Worker{Default: workers.New[cfgProbe]()})
	url, client := startServer(t, reg.Handler("cron-job"))

	for _, path := range []string{"/__scheduled?cron=*/5+*+*+*+*", "/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*"} {
		resp, body := sendRequest(t, client, http.MethodGet, url+path, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "Ran scheduled event", body)
		assert.Equal(t, "*/5 * * * *", receive(t, runs).ev.Cron)
	}

	// A failure is a 500 whose body says nothing of the error but its
	// reference; the log has it, as for a failed Fetch.
	resp, body := sendRequest(t, client, http.MethodGet, url+"/__scheduled?cron=fail", "")
	receive(t, runs)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, body, errCronFailed.Error())
	assert.Contains(t, body, "reference = ")
	assert.Contains(t, logs.String(), `path=/__scheduled status=500 error="cron job failed"`)

	url2, client2 := startServer(t, reg.Handler("plain"))
	resp, _ = sendRequest(t, client2, http.MethodGet, url2+"/__scheduled", "")
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)

	// Off by default: the request goes to Fetch (cronJob has none).
	reg2 := newRegistry(t)
	register(t, reg2, "cron-job", workers.Worker{Default: workers.New[cronJob](), Bindings: map[string]any{"RUNS": runs}})
	url3, client3 := startServer(t, reg2.Handler("cron-job"))
	resp, _ = sendRequest(t, client3, http.MethodGet, url3+"/__scheduled?cron=x", "")
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	assert.Empty(t, runs)
}

// cronWatch records the scheduled events it sees and refuses the cron
// "refuse".
type cronWatch struct {
	mu   sync.Mutex
	seen []workers.CallInfo
}

var errCronRefused = errors.New("cron refused")

func (w *cronWatch) WrapCall(next workers.CallFunc) workers.CallFunc {
	return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
		w.mu.Lock()
		w.seen = append(w.seen, *ci)
		w.mu.Unlock()
		if ev, ok := ci.Args[0].(workers.ScheduledEvent); ok && ev.Cron == "refuse" {
			return nil, errCronRefused
		}
		return next(ctx, ci)
	}
}

func (w *cronWatch) WrapFetch(next workers.FetchFunc) workers.FetchFunc { return next }

func (w *cronWatch) crons() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, ci := range w.seen {
		out = append(out, ci.Service+" "+ci.Method+" "+ci.Args[0].(workers.ScheduledEvent).Cron)
	}
	return out
}

// Scheduled events pass the interceptors as calls of the method
// "Scheduled" with the event as their argument, however they fire: a cron
// trigger, Registry.Scheduled, the /__scheduled route; an interceptor can
// refuse one, and its handler does not run.
func TestScheduledIntercepted(t *testing.T) {
	for _, where := range []string{"registry", "worker"} {
		t.Run(where, func(t *testing.T) {
			clock := newFakeClock(time.Date(2025, 1, 1, 0, 4, 30, 0, time.UTC))
			var logs syncBuffer
			watch := &cronWatch{}
			opts := []workers.Option{workers.WithClock(clock), workers.WithTestScheduled(),
				workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			w := workers.Worker{Default: workers.New[cronJob](), Crons: []string{"*/5 * * * *"}}
			if where == "registry" {
				opts = append(opts, workers.WithInterceptors(watch))
			} else {
				w.Interceptors = []workers.Interceptor{watch}
			}
			reg := newRegistry(t, opts...)
			runs := make(chan cronRun, 10)
			w.Bindings = map[string]any{"RUNS": runs}
			register(t, reg, "cron-job", w)
			clock.waitPending(t, 1)

			clock.set(time.Date(2025, 1, 1, 0, 5, 0, 0, time.UTC))
			assert.Equal(t, "*/5 * * * *", receive(t, runs).ev.Cron)
			require.NoError(t, reg.Scheduled(t.Context(), "cron-job", "by hand"))
			assert.Equal(t, "by hand", receive(t, runs).ev.Cron)
			url, client := startServer(t, reg.Handler("cron-job"))
			resp, _ := sendRequest(t, client, http.MethodGet, url+"/__scheduled?cron=route", "")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "route", receive(t, runs).ev.Cron)

			err := reg.Scheduled(t.Context(), "cron-job", "refuse")
			assert.ErrorIs(t, err, errCronRefused)
			assert.Empty(t, runs, "the handler did not run")
			assert.Equal(t, []string{"cron-job Scheduled */5 * * * *", "cron-job Scheduled by hand",
				"cron-job Scheduled route", "cron-job Scheduled refuse"}, watch.crons())
			watch.mu.Lock()
			assert.Equal(t, 1, watch.seen[0].Depth)
			watch.mu.Unlock()
			assert.Contains(t, logs.String(), `msg="workers: call refused by an interceptor" service=cron-job method=Scheduled`)
		})
	}
}
