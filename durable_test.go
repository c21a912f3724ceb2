package workers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/workerstest"
)

// Counter keeps a count in memory and one in storage.
type CounterObject struct {
	workers.DurableObject
	mem   int
	built int
}

// Increment adds one to both counts and returns them.
func (c *CounterObject) Increment(ctx context.Context) ([]int, error) {
	s := c.State.Storage()
	n, _, err := workers.StorageGet[int](ctx, s, "n")
	if err != nil {
		return nil, err
	}
	n++
	if err := s.Put(ctx, "n", n); err != nil {
		return nil, err
	}
	c.mem++
	return []int{c.mem, n}, nil
}

// Mem is the in-memory count: it resets when the object is evicted.
func (c *CounterObject) Mem() int { return c.mem }

// Stored is the count in storage.
func (c *CounterObject) Stored(ctx context.Context) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, c.State.Storage(), "n")
	return n, err
}

// ID returns the object's own ID, as its State knows it.
func (c *CounterObject) ID() string { return c.State.ID().String() }

// Echo returns what it got.
func (c *CounterObject) Echo(m map[string][]int) map[string][]int { return m }

// Mutate changes what it got.
func (c *CounterObject) Mutate(m map[string][]int) { m["k"][0] = -1; m["new"] = nil }

// Fail returns err as it is.
func (c *CounterObject) Fail(msg string) error { return &codedError{code: 7, msg: msg} }

// Panic panics.
func (c *CounterObject) Panic() { panic("boom") }

// Sum is variadic.
func (c *CounterObject) Sum(base int, more ...int) int {
	for _, m := range more {
		base += m
	}
	return base
}

// Bad cannot be called over RPC.
func (c *CounterObject) Bad() (int, int) { return 1, 2 }

// Fetch is reserved.
func (c *CounterObject) Fetch(r *http.Request) (*http.Response, error) { return nil, nil }

type codedError struct {
	code int
	msg  string
}

func (e *codedError) Error() string { return fmt.Sprintf("code %d: %s", e.code, e.msg) }

func counterWorker() workers.Worker {
	return workers.Worker{
		DurableObjects:        map[string]workers.Constructor{"Counter": workers.New[CounterObject]()},
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "COUNTER", ClassName: "Counter"}},
	}
}

// doRegistry returns a registry with its state in a temporary directory.
func doRegistry(t testing.TB, opts ...workers.Option) *workers.Registry {
	t.Helper()
	return newRegistry(t, append([]workers.Option{workers.WithStateDir(t.TempDir())}, opts...)...)
}

func counters(t testing.TB, reg *workers.Registry) *workers.DurableObjectNamespace {
	t.Helper()
	register(t, reg, "app", counterWorker())
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Counter"})
}

func TestDurableObjectIDs(t *testing.T) {
	reg := doRegistry(t)
	ns := counters(t, reg)
	other := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Other"})

	a := ns.IDFromName("alice")
	assert.Len(t, a.String(), 64)
	assert.Regexp(t, "^[0-9a-f]{64}$", a.String())
	assert.Equal(t, "alice", a.Name())
	assert.Equal(t, a, ns.IDFromName("alice"), "deterministic")
	assert.NotEqual(t, a.String(), ns.IDFromName("bob").String())
	assert.NotEqual(t, a.String(), other.IDFromName("alice").String(), "per namespace")

	// Another registry (another process) maps the name to the same ID.
	reg2 := doRegistry(t)
	assert.Equal(t, a.String(), counters(t, reg2).IDFromName("alice").String())

	u1, u2 := ns.NewUniqueID(), ns.NewUniqueID()
	assert.Len(t, u1.String(), 64)
	assert.Empty(t, u1.Name())
	assert.False(t, u1.Equal(u2))

	back, err := ns.IDFromString(a.String())
	require.NoError(t, err)
	assert.True(t, back.Equal(a))
	assert.Empty(t, back.Name())
	back, err = ns.IDFromString(strings.ToUpper(u1.String()))
	require.NoError(t, err)
	assert.True(t, back.Equal(u1))

	for _, tc := range []struct{ in, want string }{
		{"", "want 64 hex digits, got 0 characters"},
		{"abc", "want 64 hex digits, got 3 characters"},
		{a.String()[:63], "got 63 characters"},
		{a.String() + "0", "got 65 characters"},
		{strings.Repeat("g", 64), "invalid byte"},
		{strings.Repeat("0", 64), "zero ID"},
		{other.IDFromName("alice").String(), "another namespace"},
		{a.String()[:63] + flip(a.String()[63]), "another namespace"},
	} {
		_, err := ns.IDFromString(tc.in)
		assert.ErrorIs(t, err, workers.ErrInvalidArgument, "%q", tc.in)
		assert.ErrorContains(t, err, tc.want, "%q", tc.in)
		assert.ErrorContains(t, err, `"Counter"`, "names the namespace")
	}

	// Get with an ID of another namespace fails on use.
	_, err = ns.Get(other.IDFromName("x")).Call(context.Background(), "Mem")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "another namespace")
	_, err = ns.Get(workers.DurableObjectID{}).Call(context.Background(), "Mem")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "zero DurableObjectID")

	// The object knows its ID.
	got, err := workers.Call[string](context.Background(), ns.Get(a), "ID")
	require.NoError(t, err)
	assert.Equal(t, a.String(), got)
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

type NotDurable struct{ n int }

type PointerDurable struct{ *workers.DurableObject }

type BothBases struct {
	workers.DurableObject
	workers.Entrypoint
}

type BadAlarm struct{ workers.DurableObject }

func (b *BadAlarm) Alarm() {}

func TestDurableObjectRegisterRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    workers.Worker
		want []string
	}{
		{"not embedding", workers.Worker{DurableObjects: map[string]workers.Constructor{"X": workers.New[NotDurable]()}},
			[]string{`class "X"`, "workers_test.NotDurable does not embed workers.DurableObject"}},
		{"by pointer", workers.Worker{DurableObjects: map[string]workers.Constructor{"X": workers.New[PointerDurable]()}},
			[]string{"workers_test.PointerDurable embeds *workers.DurableObject"}},
		{"both bases", workers.Worker{DurableObjects: map[string]workers.Constructor{"X": workers.New[BothBases]()}},
			[]string{"workers_test.BothBases embeds both"}},
		{"bad alarm", workers.Worker{DurableObjects: map[string]workers.Constructor{"X": workers.New[BadAlarm]()}},
			[]string{"Alarm(ctx context.Context) error"}},
		{"empty constructor", workers.Worker{DurableObjects: map[string]workers.Constructor{"X": {}}},
			[]string{"empty Constructor"}},
		{"binding to a class the worker lacks", workers.Worker{
			DurableObjects:        map[string]workers.Constructor{"Counter": workers.New[CounterObject]()},
			DurableObjectBindings: []workers.DurableObjectBinding{{Name: "C", ClassName: "Countr"}}},
			[]string{`binding "C" names class "Countr", which the worker does not export (its classes: [Counter])`}},
		{"binding without a class", workers.Worker{DurableObjectBindings: []workers.DurableObjectBinding{{Name: "C"}}},
			[]string{`binding "C"`, "names no class"}},
		{"binding name taken", workers.Worker{
			Vars:                  map[string]any{"C": "x"},
			DurableObjects:        map[string]workers.Constructor{"Counter": workers.New[CounterObject]()},
			DurableObjectBindings: []workers.DurableObjectBinding{{Name: "C", ClassName: "Counter"}}},
			[]string{`binding name "C" is used twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := doRegistry(t).Register("w", tc.w)
			require.ErrorIs(t, err, workers.ErrInvalidWorker)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestDurableObjectValidate(t *testing.T) {
	reg := doRegistry(t)
	register(t, reg, "caller", workers.Worker{DurableObjectBindings: []workers.DurableObjectBinding{
		{Name: "A", ClassName: "Counter", ScriptName: "app"},
		{Name: "B", ClassName: "Nope", ScriptName: "app"},
		{Name: "C", ClassName: "Counter", ScriptName: "missing"},
	}})
	register(t, reg, "app", counterWorker())
	err := reg.Validate()
	require.Error(t, err)
	assert.ErrorIs(t, err, workers.ErrNamespaceNotFound)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.ErrorContains(t, err, `worker "caller" durable object binding "B": service "app" exports no Durable Object class "Nope" (its classes: [Counter])`)
	assert.ErrorContains(t, err, `worker "caller" durable object binding "C": class "Counter": service "missing" is not registered`)
	assert.NotContains(t, err.Error(), `binding "A"`)
}

// Caller reaches Counter objects through its Env.
type Caller struct{ workers.Entrypoint }

func (c *Caller) Bump(name string) ([]int, error) {
	return workers.Call[[]int](c.Ctx, c.Env.DurableObject("COUNTER").GetByName(name), "Increment")
}

func (c *Caller) Missing() error {
	_, err := c.Env.DurableObject("NOPE").GetByName("x").Call(c.Ctx, "Mem")
	return err
}

func (c *Caller) ViaGet() (bool, error) {
	ns, ok := workers.Get[*workers.DurableObjectNamespace](c.Env, "COUNTER")
	return ok && ns == c.Env.DurableObject("COUNTER"), nil
}

func TestDurableObjectEnv(t *testing.T) {
	reg := doRegistry(t)
	register(t, reg, "app", counterWorker())
	register(t, reg, "front", workers.Worker{
		Default:               workers.New[Caller](),
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "COUNTER", ClassName: "Counter", ScriptName: "app"}},
	})
	require.NoError(t, reg.Validate())
	b := bind(reg, "front")
	for i := 1; i <= 3; i++ {
		got, err := workers.Call[[]int](context.Background(), b, "Bump", "home")
		require.NoError(t, err)
		assert.Equal(t, []int{i, i}, got)
	}
	got, err := workers.Call[[]int](context.Background(), b, "Bump", "other")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1}, got)

	_, err = b.Call(context.Background(), "Missing")
	assert.ErrorIs(t, err, workers.ErrNamespaceNotFound)
	assert.ErrorContains(t, err, `worker "front" has no Durable Object namespace binding "NOPE"; its namespace bindings are [COUNTER]`)

	ok, err := workers.Call[bool](context.Background(), b, "ViaGet")
	require.NoError(t, err)
	assert.True(t, ok)

	// The same object from outside: the count went on.
	app := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Counter"})
	n, err := workers.Call[int](context.Background(), app.GetByName("home"), "Stored")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestDurableObjectCallRules(t *testing.T) {
	reg := doRegistry(t)
	ns := counters(t, reg)
	s := ns.GetByName("rules")
	ctx := context.Background()

	_, err := s.Call(ctx, "Incremnt")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	assert.ErrorContains(t, err, `durable object "Counter" of service "app": The RPC receiver does not implement the method "Incremnt". Did you mean "Increment"?`)
	for _, name := range []string{"Fetch", "Alarm"} {
		_, err = s.Call(ctx, name)
		assert.ErrorIs(t, err, workers.ErrReservedMethod, name)
	}
	for _, name := range []string{"State", "Env", "durableObject", "mem"} {
		_, err = s.Call(ctx, name)
		assert.ErrorIs(t, err, workers.ErrMethodNotFound, name)
	}
	_, err = s.Call(ctx, "Bad")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	assert.ErrorContains(t, err, "cannot be called over RPC")

	// Arguments: count, conversion, index.
	_, err = s.Call(ctx, "Sum")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "got 0 arguments, want at least 1")
	sum, err := workers.Call[int](ctx, s, "Sum", int64(1), 2, uint8(3))
	require.NoError(t, err)
	assert.Equal(t, 6, sum)
	_, err = s.Call(ctx, "Sum", 1, 2.5)
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "argument 1")

	// Copies both ways.
	in := map[string][]int{"k": {1, 2}}
	require.NoError(t, errOnly(s.Call(ctx, "Mutate", in)))
	assert.Equal(t, map[string][]int{"k": {1, 2}}, in, "the callee cannot change the caller's argument")
	out, err := workers.Call[map[string][]int](ctx, s, "Echo", in)
	require.NoError(t, err)
	out["k"][0] = 99
	assert.Equal(t, 1, in["k"][0])

	// Error identity, panics.
	err = errOnly(s.Call(ctx, "Fail", "nope"))
	var ce *codedError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 7, ce.code)
	err = errOnly(s.Call(ctx, "Panic"))
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "Panic")
	assert.ErrorContains(t, err, `durable object "Counter" of service "app" method "Panic" panicked: boom`)
	got, err := workers.Call[[]int](ctx, s, "Increment")
	require.NoError(t, err, "the object keeps working after a panic")
	assert.Equal(t, []int{1, 1}, got)

	// A done ctx: the method does not run.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Call(canceled, "Increment")
	assert.ErrorIs(t, err, context.Canceled)
	n, err := workers.Call[int](ctx, s, "Mem")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "Increment did not run")

	// A released stub.
	s2 := s.Dup()
	require.NoError(t, s2.Close())
	_, err = s2.Call(ctx, "Mem")
	assert.ErrorIs(t, err, workers.ErrDisposed)
}

func errOnly(_ any, err error) error { return err }

// Recurser calls objects of its own class, by name, as deep as asked.
type Recurser struct{ workers.DurableObject }

func (r *Recurser) Down(ctx context.Context, n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	ns := r.Env.DurableObject("R")
	d, err := workers.Call[int](ctx, ns.GetByName(fmt.Sprint(n)), "Down", n-1)
	return d + 1, err
}

// Self calls its own object again, through a worker, within the call.
func (r *Recurser) Self(ctx context.Context, n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	d, err := workers.Call[int](ctx, r.Env.Service("HOP"), "Hop", r.State.ID().String(), n-1)
	return d + 1, err
}

type Hop struct{ workers.Entrypoint }

func (h *Hop) Hop(id string, n int) (int, error) {
	ns := h.Env.DurableObject("R")
	oid, err := ns.IDFromString(id)
	if err != nil {
		return 0, err
	}
	return workers.Call[int](h.Ctx, ns.Get(oid), "Self", n)
}

func recursers(t *testing.T, opts ...workers.Option) *workers.DurableObjectNamespace {
	reg := doRegistry(t, opts...)
	register(t, reg, "rec", workers.Worker{
		Default:               workers.New[Hop](),
		Services:              []workers.Service{{Binding: "HOP", Service: "rec"}},
		DurableObjects:        map[string]workers.Constructor{"R": workers.New[Recurser]()},
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "R", ClassName: "R"}},
	})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "rec", ClassName: "R"})
}

func TestDurableObjectDepth(t *testing.T) {
	ns := recursers(t, workers.WithMaxDepth(8))
	d, err := workers.Call[int](context.Background(), ns.GetByName("top"), "Down", 7)
	require.NoError(t, err)
	assert.Equal(t, 7, d)
	_, err = workers.Call[int](context.Background(), ns.GetByName("top"), "Down", 8)
	assert.ErrorIs(t, err, workers.ErrDepthExceeded)
}

// A call chain that comes back to its own object runs (as a nested call in
// JavaScript runs while the outer one awaits), instead of waiting for
// itself forever.
func TestDurableObjectReentrant(t *testing.T) {
	ns := recursers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := workers.Call[int](ctx, ns.GetByName("me"), "Self", 5)
	require.NoError(t, err)
	assert.Equal(t, 5, d)
}

// Slow does a read-modify-write of its count with a pause in the middle:
// overlapping calls would lose updates.
type Slow struct {
	workers.DurableObject
	n       int
	running atomic.Int32
	overlap atomic.Bool
}

func (s *Slow) Add(ctx context.Context) (int, error) {
	if s.running.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.running.Add(-1)
	st := s.State.Storage()
	v, _, err := workers.StorageGet[int](ctx, st, "n")
	if err != nil {
		return 0, err
	}
	n := s.n
	time.Sleep(100 * time.Microsecond)
	s.n = n + 1
	return s.n, st.Put(ctx, "n", v+1)
}

func (s *Slow) Overlapped() bool { return s.overlap.Load() }

func (s *Slow) Stored(ctx context.Context) (int, error) {
	v, _, err := workers.StorageGet[int](ctx, s.State.Storage(), "n")
	return v, err
}

// Meet waits, inside a call, until another object's Meet call has started:
// it returns only if two objects run at the same time.
func (s *Slow) Meet(ctx context.Context, key string) error {
	select {
	case <-meet(key):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	meetMu sync.Mutex
	meets  = map[string]*meeting{}
)

type meeting struct {
	n  int
	ch chan struct{}
}

// meet counts an arrival at key and returns a channel closed once two
// have arrived.
func meet(key string) chan struct{} {
	meetMu.Lock()
	defer meetMu.Unlock()
	m := meets[key]
	if m == nil {
		m = &meeting{ch: make(chan struct{})}
		meets[key] = m
	}
	if m.n++; m.n == 2 {
		close(m.ch)
	}
	return m.ch
}

func slows(t *testing.T, opts ...workers.Option) *workers.DurableObjectNamespace {
	reg := doRegistry(t, opts...)
	register(t, reg, "slow", workers.Worker{DurableObjects: map[string]workers.Constructor{"Slow": workers.New[Slow]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "slow", ClassName: "Slow"})
}

func TestDurableObjectCallsDoNotOverlap(t *testing.T) {
	ns := slows(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			// A stub of its own per caller: every way to the ID reaches
			// the one object.
			_, err := ns.GetByName("one").Call(ctx, "Add")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s := ns.GetByName("one")
	n, err := workers.Call[int](ctx, s, "Stored")
	require.NoError(t, err)
	assert.Equal(t, 50, n)
	overlapped, err := workers.Call[bool](ctx, s, "Overlapped")
	require.NoError(t, err)
	assert.False(t, overlapped)
}

func TestDurableObjectsRunInParallel(t *testing.T) {
	ns := slows(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := fmt.Sprint(t.Name(), time.Now().UnixNano())
	errs := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func() { errs <- errOnly(ns.GetByName(name).Call(ctx, "Meet", key)) }()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
}

// A caller waiting for a busy object gives up when its ctx ends.
func TestDurableObjectWaitCanceled(t *testing.T) {
	ns := slows(t)
	key := fmt.Sprint(t.Name(), time.Now().UnixNano())
	long, cancelLong := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- errOnly(ns.GetByName("x").Call(long, "Meet", key)) }() // holds "x" until canceled
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		_, err := ns.GetByName("x").Call(ctx, "Stored")
		return errors.Is(err, context.DeadlineExceeded)
	}, 5*time.Second, time.Millisecond)
	cancelLong()
	assert.ErrorIs(t, <-done, context.Canceled)
	n, err := workers.Call[int](context.Background(), ns.GetByName("x"), "Stored")
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func TestDurableObjectEvictedWhenIdle(t *testing.T) {
	reg := doRegistry(t, workers.WithDurableObjectIdleTimeout(20*time.Millisecond))
	ns := counters(t, reg)
	s := ns.GetByName("idle")
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		got, err := workers.Call[[]int](ctx, s, "Increment")
		require.NoError(t, err)
		assert.Equal(t, []int{i, i}, got, "fields persist between calls")
	}
	require.Eventually(t, func() bool {
		n, err := workers.Call[int](ctx, s, "Mem")
		return err == nil && n == 0
	}, 5*time.Second, 30*time.Millisecond, "the object is evicted and made again")
	got, err := workers.Call[[]int](ctx, s, "Increment")
	require.NoError(t, err)
	assert.Equal(t, 4, got[1], "storage survives eviction")
}

// Gate blocks its calls while a BlockConcurrencyWhile from a WaitUntil
// task runs.
type Gate struct {
	workers.DurableObject
	log []string
}

type gateChans struct{ started, release chan struct{} }

var gates sync.Map // test name -> gateChans

func (g *Gate) Start(ctx context.Context, name string) error {
	v, _ := gates.Load(name)
	ch := v.(gateChans)
	g.State.WaitUntil(func(ctx context.Context) error {
		return g.State.BlockConcurrencyWhile(ctx, func(ctx context.Context) error {
			close(ch.started)
			<-ch.release
			g.log = append(g.log, "blocked")
			return nil
		})
	})
	// Within a call, BlockConcurrencyWhile runs at once.
	return g.State.BlockConcurrencyWhile(ctx, func(context.Context) error {
		g.log = append(g.log, "start")
		return nil
	})
}

func (g *Gate) Log() []string { return g.log }

func (g *Gate) Break(ctx context.Context) error {
	return g.State.BlockConcurrencyWhile(ctx, func(context.Context) error { return io.ErrUnexpectedEOF })
}

func TestDurableObjectBlockConcurrencyWhile(t *testing.T) {
	reg := doRegistry(t)
	register(t, reg, "g", workers.Worker{DurableObjects: map[string]workers.Constructor{"Gate": workers.New[Gate]()}})
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "g", ClassName: "Gate"})
	s := ns.GetByName("gate")
	ctx := context.Background()
	ch := gateChans{make(chan struct{}), make(chan struct{})}
	gates.Store(t.Name(), ch)
	require.NoError(t, errOnly(s.Call(ctx, "Start", t.Name())))
	<-ch.started

	logc := make(chan []string, 1)
	go func() {
		l, err := workers.Call[[]string](ctx, s, "Log")
		assert.NoError(t, err)
		logc <- l
	}()
	select {
	case l := <-logc:
		t.Fatalf("a call ran while BlockConcurrencyWhile held the object: %v", l)
	case <-time.After(30 * time.Millisecond):
	}
	close(ch.release)
	assert.Equal(t, []string{"start", "blocked"}, <-logc)

	// A failing BlockConcurrencyWhile resets the object.
	err := errOnly(s.Call(ctx, "Break"))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	l, err := workers.Call[[]string](ctx, s, "Log")
	require.NoError(t, err)
	assert.Empty(t, l, "a new instance")
}

// Tasks run after the call returns and keep Close waiting.
type Tasker struct{ workers.DurableObject }

func (tk *Tasker) Later(ctx context.Context, d time.Duration) {
	tk.State.WaitUntil(func(ctx context.Context) error {
		time.Sleep(d)
		return tk.State.Storage().Put(ctx, "done", true)
	})
}

func (tk *Tasker) Done(ctx context.Context) (bool, error) {
	done, _, err := workers.StorageGet[bool](ctx, tk.State.Storage(), "done")
	return done, err
}

func taskers(t *testing.T, reg *workers.Registry) *workers.DurableObjectNamespace {
	register(t, reg, "t", workers.Worker{DurableObjects: map[string]workers.Constructor{"Tasker": workers.New[Tasker]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "t", ClassName: "Tasker"})
}

// A test waits for an object's tasks with the kit, the registry open.
func TestDurableObjectTasksWaitedFor(t *testing.T) {
	reg := workerstest.New(t)
	ns := taskers(t, reg)
	ctx, tasks := workerstest.Tasks(t.Context())
	require.NoError(t, errOnly(ns.GetByName("x").Call(ctx, "Later", 20*time.Millisecond)))
	require.NoError(t, tasks.Wait(ctx))
	done, err := workers.Call[bool](ctx, ns.GetByName("x"), "Done")
	require.NoError(t, err)
	assert.True(t, done, "the task ran to its end")
}

func TestDurableObjectWaitUntilAndClose(t *testing.T) {
	dir := t.TempDir()
	reg := workers.NewRegistry(workers.WithStateDir(dir))
	ns := taskers(t, reg)
	start := time.Now()
	require.NoError(t, errOnly(ns.GetByName("x").Call(context.Background(), "Later", 50*time.Millisecond)))
	assert.Less(t, time.Since(start), 50*time.Millisecond, "the call does not wait for its task")
	require.NoError(t, reg.Close(context.Background()))
	_, err := ns.GetByName("x").Call(context.Background(), "Later", time.Duration(0))
	assert.ErrorIs(t, err, workers.ErrClosed)

	// The task finished before Close returned: its write is there.
	done, err := workers.Call[bool](context.Background(), taskers(t, doRegistryAt(t, dir)).GetByName("x"), "Done")
	require.NoError(t, err)
	assert.True(t, done)
}

func doRegistryAt(t testing.TB, dir string, opts ...workers.Option) *workers.Registry {
	return newRegistry(t, append([]workers.Option{workers.WithStateDir(dir)}, opts...)...)
}

// doneSignal is a context that says when a call first waits on it.
type doneSignal struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (d *doneSignal) Done() <-chan struct{} {
	d.once.Do(func() { close(d.asked) })
	return d.Context.Done()
}

// Close refuses new calls at once and returns only when the calls in
// flight, and those waiting for their object, are done.
func TestDurableObjectCloseWaitsForCalls(t *testing.T) {
	reg := workers.NewRegistry(workers.WithStateDir(t.TempDir()))
	register(t, reg, "slow", workers.Worker{DurableObjects: map[string]workers.Constructor{"Slow": workers.New[Slow]()}})
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "slow", ClassName: "Slow"})
	key := fmt.Sprint(t.Name(), time.Now().UnixNano())
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- errOnly(ns.GetByName("x").Call(ctx, "Meet", key)) }()
	queued := make(chan error, 1)
	require.Eventually(t, func() bool { // Meet holds "x"
		c, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		return errors.Is(errOnly(ns.GetByName("x").Call(c, "Stored")), context.DeadlineExceeded)
	}, 5*time.Second, time.Millisecond)
	waiting := &doneSignal{Context: ctx, asked: make(chan struct{})}
	go func() { queued <- errOnly(ns.GetByName("x").Call(waiting, "Add")) }()
	<-waiting.asked // the call waits for "x"

	closed := make(chan error, 1)
	go func() { closed <- reg.Close(ctx) }()
	require.Eventually(t, func() bool {
		return errors.Is(errOnly(ns.GetByName("y").Call(ctx, "Stored")), workers.ErrClosed)
	}, 5*time.Second, time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a call in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	<-meet(key) // the second arrival lets Meet return
	require.NoError(t, <-first)
	require.NoError(t, <-queued, "a call waiting for its object when Close began still runs")
	require.NoError(t, <-closed)
}

// Preset is made by a NewFunc constructor, which may fail.
type Preset struct {
	workers.DurableObject
	greeting string
}

func (p *Preset) Greet(name string) string {
	return p.greeting + " " + name + " from " + p.State.ID().Name()
}

func TestDurableObjectNewFunc(t *testing.T) {
	var calls atomic.Int32
	reg := doRegistry(t)
	register(t, reg, "p", workers.Worker{DurableObjects: map[string]workers.Constructor{"Preset": workers.NewFunc(func() *Preset {
		switch calls.Add(1) {
		case 1:
			panic("not ready")
		case 2:
			return nil
		}
		return &Preset{greeting: "hello"}
	})}})
	s := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "p", ClassName: "Preset"}).GetByName("home")
	ctx := context.Background()
	var pe *workers.PanicError
	require.ErrorAs(t, errOnly(s.Call(ctx, "Greet", "ada")), &pe)
	assert.Equal(t, "not ready", pe.Value)
	assert.ErrorContains(t, errOnly(s.Call(ctx, "Greet", "ada")), "the constructor of workers_test.Preset returned nil")
	got, err := workers.Call[string](ctx, s, "Greet", "ada")
	require.NoError(t, err)
	assert.Equal(t, "hello ada from home", got)
	got, err = workers.Call[string](ctx, s, "Greet", "bob")
	require.NoError(t, err)
	assert.Equal(t, "hello bob from home", got)
	assert.Equal(t, int32(3), calls.Load(), "one instance, made once it could be")
}

var holds sync.Map // key -> chan struct{}

// Hold keeps a WaitUntil task running until the channel under key closes.
func (c *CounterObject) Hold(key string) {
	v, _ := holds.Load(key)
	c.State.WaitUntil(func(context.Context) error { <-v.(chan struct{}); return nil })
}

// A WaitUntil task keeps its object in memory: no eviction while it runs.
func TestDurableObjectWaitUntilKeepsObject(t *testing.T) {
	reg := doRegistry(t, workers.WithDurableObjectIdleTimeout(10*time.Millisecond))
	s := counters(t, reg).GetByName("held")
	ctx := context.Background()
	require.NoError(t, errOnly(s.Call(ctx, "Increment")))
	release := make(chan struct{})
	key := fmt.Sprint(t.Name(), time.Now().UnixNano())
	holds.Store(key, release)
	require.NoError(t, errOnly(s.Call(ctx, "Hold", key)))
	for range 4 {
		time.Sleep(30 * time.Millisecond) // more than the idle timeout and a sweep
		n, err := workers.Call[int](ctx, s, "Mem")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "evicted while its task ran")
	}
	close(release)
	require.Eventually(t, func() bool {
		n, err := workers.Call[int](ctx, s, "Mem")
		return err == nil && n == 0
	}, 5*time.Second, 30*time.Millisecond, "evicted once the task is done")
}
