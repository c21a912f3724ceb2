package workers_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
)

// Counter is an RpcTarget: its state stays where it was made.
type Counter struct {
	workers.RpcTarget
	mu       sync.Mutex
	n        int
	disposed *atomic.Int32
}

func (c *Counter) Increment(by int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += by
	return c.n
}

func (c *Counter) Value(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, nil
}

func (c *Counter) Fail() error  { return errShape }
func (c *Counter) Explode() int { panic("boom") }
func (c *Counter) Depth(ctx context.Context) int {
	return ctx.(*workers.Ctx).Depth()
}
func (c *Counter) Dispose() {
	if c.disposed != nil {
		c.disposed.Add(1)
	}
}

// counterMaker hands out Counters and takes stubs back.
type counterMaker struct{ workers.Entrypoint }

var makerDisposed atomic.Int32 // counts Dispose calls of counters the maker made

func (w *counterMaker) MakeCounter(start int) *Counter {
	return &Counter{n: start, disposed: &makerDisposed}
}

// Made counts calls of MakeCounter through Call[R] that were refused.
var madeAnyway atomic.Int32

func (w *counterMaker) MakeCounted(start int) *Counter {
	madeAnyway.Add(1)
	return &Counter{n: start}
}

func (w *counterMaker) Bump(ctx context.Context, c *workers.Stub, by int) (int, error) {
	return workers.Call[int](ctx, c, "Increment", by)
}

var kept struct {
	sync.Mutex
	stub, dup *workers.Stub
}

// Keep keeps the stub it received and a Dup of it: only the Dup outlives
// the call.
func (w *counterMaker) Keep(c *workers.Stub) {
	kept.Lock()
	defer kept.Unlock()
	kept.stub, kept.dup = c, c.Dup()
}

func (w *counterMaker) Typed(c *Counter) int { return c.Increment(1) }

// Relay calls MakeCounter itself and uses the counter within its own
// invocation; it returns the final value.
func (w *counterMaker) Relay(ctx context.Context) (int, error) {
	s, err := workers.Call[*workers.Stub](w.Ctx, w.Env.Service("SELF"), "MakeCounter", 10)
	if err != nil {
		return 0, err
	}
	relayed.Store(s)
	return workers.Call[int](ctx, s, "Increment", 1)
}

var relayed atomic.Pointer[workers.Stub]

// PassOn returns a counter it got from a call: the caller gets its own
// reference.
func (w *counterMaker) PassOn() (*workers.Stub, error) {
	return workers.Call[*workers.Stub](w.Ctx, w.Env.Service("SELF"), "MakeCounter", 100)
}

func makerRegistry(t *testing.T) (*workers.Registry, *workers.Binding) {
	t.Helper()
	reg := newRegistry(t)
	register(t, reg, "maker", workers.Worker{
		Default:  workers.New[counterMaker](),
		Services: []workers.Service{{Binding: "SELF", Service: "maker"}},
	})
	return reg, bind(reg, "maker")
}

func TestStubCallsRunOnTheSameObject(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 12)
	require.NoError(t, err)
	defer counter.Close()

	n, err := workers.Call[int](ctx, counter, "Increment", 3)
	require.NoError(t, err)
	assert.Equal(t, 15, n)
	n, err = workers.Call[int](ctx, counter, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 17, n, "the same Counter, not a fresh one")

	got, err := counter.Call(ctx, "Value")
	require.NoError(t, err)
	assert.Equal(t, 17, got)

	untyped, err := b.Call(ctx, "MakeCounter", 1)
	require.NoError(t, err)
	s, ok := untyped.(*workers.Stub)
	require.True(t, ok, "a target reaches Binding.Call as a *Stub, not as %T", untyped)
	s.Close()
}

func TestStubRefusesTheTargetType(t *testing.T) {
	_, b := makerRegistry(t)
	before := madeAnyway.Load()
	_, err := workers.Call[*Counter](t.Context(), b, "MakeCounted", 1)
	require.ErrorIs(t, err, workers.ErrInvalidResult)
	assert.Contains(t, err.Error(), "*workers.Stub")
	assert.Equal(t, before, madeAnyway.Load(), "refused before the method ran")

	_, err = b.Call(t.Context(), "Typed", &Counter{})
	require.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "declare the parameter as *workers.Stub")
}

func TestStubKeepsTheRulesOfACall(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 0)
	require.NoError(t, err)
	defer counter.Close()

	_, err = counter.Call(ctx, "Fail")
	assert.ErrorIs(t, err, errShape, "error identity")

	_, err = counter.Call(ctx, "Explode")
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = counter.Call(canceled, "Increment", 1)
	assert.ErrorIs(t, err, context.Canceled)
	n, err := workers.Call[int](ctx, counter, "Increment", 0)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a canceled call did not run")

	_, err = counter.Call(ctx, "Incremnt", 1)
	require.ErrorIs(t, err, workers.ErrMethodNotFound)
	assert.Contains(t, err.Error(), `Did you mean "Increment"?`)

	_, err = counter.Call(ctx, "Dispose")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "Dispose is not callable")

	_, err = counter.Call(ctx, "Increment", "one")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)

	depth, err := workers.Call[int](ctx, counter, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 1, depth, "a call through a stub is an invocation")
}

func TestStubDisposeAndDup(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	before := makerDisposed.Load()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 1)
	require.NoError(t, err)
	dup := counter.Dup()

	require.NoError(t, counter.Close())
	require.NoError(t, counter.Close(), "Close is idempotent")
	assert.Equal(t, before, makerDisposed.Load(), "a Dup keeps the target alive")
	_, err = counter.Call(ctx, "Increment", 1)
	require.ErrorIs(t, err, workers.ErrDisposed)
	assert.Contains(t, err.Error(), "RPC stub used after being disposed.")

	n, err := workers.Call[int](ctx, dup, "Increment", 1)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	require.NoError(t, dup.Close())
	assert.Equal(t, before+1, makerDisposed.Load(), "Dispose runs once, after the last reference")
	_, err = dup.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	late := dup.Dup()
	_, err = late.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed, "a Dup of a released stub is released")

	var nilStub *workers.Stub
	_, err = nilStub.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	assert.NoError(t, nilStub.Close())
}

func TestStubArgumentsAreReleasedWhenTheMethodReturns(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 5)
	require.NoError(t, err)
	defer counter.Close()

	n, err := workers.Call[int](ctx, b, "Bump", counter, 2)
	require.NoError(t, err)
	assert.Equal(t, 7, n, "the callee called the caller's counter")

	_, err = b.Call(ctx, "Keep", counter)
	require.NoError(t, err)
	kept.Lock()
	stub, dup := kept.stub, kept.dup
	kept.Unlock()
	_, err = stub.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed, "the stub a method received is released when it returns")
	n, err = workers.Call[int](ctx, dup, "Increment", 1)
	require.NoError(t, err, "a Dup made during the call outlives it")
	assert.Equal(t, 8, n)
	dup.Close()

	n, err = workers.Call[int](ctx, counter, "Increment", 1)
	require.NoError(t, err, "the caller's own reference is untouched")
	assert.Equal(t, 9, n)
}

func TestStubResultsAreReleasedWhenTheInvocationEnds(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	n, err := workers.Call[int](ctx, b, "Relay")
	require.NoError(t, err)
	assert.Equal(t, 11, n)
	_, err = relayed.Load().Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed, "released with the invocation that received it")

	passed, err := workers.Call[*workers.Stub](ctx, b, "PassOn")
	require.NoError(t, err)
	n, err = workers.Call[int](ctx, passed, "Increment", 1)
	require.NoError(t, err, "a stub returned on belongs to the caller")
	assert.Equal(t, 101, n)
	passed.Close()
}

func TestRegistryCloseReleasesTargets(t *testing.T) {
	reg, b := makerRegistry(t)
	ctx := t.Context()
	before := makerDisposed.Load()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 1)
	require.NoError(t, err)
	require.NoError(t, reg.Close(ctx))
	assert.Equal(t, before+1, makerDisposed.Load())
	_, err = counter.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	counter.Close()
	assert.Equal(t, before+1, makerDisposed.Load(), "still once")
}

func TestStubConcurrentUse(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				d := counter.Dup()
				_, err := d.Call(ctx, "Increment", 1)
				assert.NoError(t, err)
				d.Close()
			}
		})
	}
	wg.Wait()
	n, err := workers.Call[int](ctx, counter, "Value")
	require.NoError(t, err)
	assert.Equal(t, 800, n)
	counter.Close()
}

// Stubs made and released in a loop leave neither memory nor goroutines
// behind.
func TestStubNoLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	_, b := makerRegistry(t)
	ctx := t.Context()
	run := func(n int) {
		for range n {
			s, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Call(ctx, "Increment", 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	run(1000) // warm up: method tables, shims, pools
	base := heap()
	run(100_000)
	after := heap()
	assert.Less(t, int64(after)-int64(base), int64(1<<20), "heap grew from %d to %d bytes over 100,000 stubs", base, after)
}

func TestCallerIsSealed(t *testing.T) {
	var _ workers.Caller = (*workers.Binding)(nil)
	var _ workers.Caller = (*workers.Stub)(nil)
	_, err := workers.Call[int](t.Context(), nil, "Add")
	assert.True(t, errors.Is(err, workers.ErrServiceNotFound))
}

// sideEffects records that its method ran.
type sideEffects struct{ workers.Entrypoint }

var sideEffectRuns atomic.Int32

type execResult struct{ Count int }

func (w *sideEffects) Exec() *execResult {
	sideEffectRuns.Add(1)
	return &execResult{Count: 1}
}

func (w *sideEffects) Maybe() any {
	sideEffectRuns.Add(1)
	return "text"
}

// Call[R] with an R that can never hold the method's result is refused
// before the method runs (#12: it used to run it, side effects and all).
func TestCallRefusesAnImpossibleResultBeforeRunning(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "fx", workers.Worker{Default: workers.New[sideEffects]()})
	b := bind(reg, "fx")
	for range 2 { // the second time through the binding's remembered method
		_, err := workers.Call[string](t.Context(), b, "Exec")
		require.ErrorIs(t, err, workers.ErrInvalidResult)
		assert.Contains(t, err.Error(), "can never be a string; the method was not called")
	}
	assert.Equal(t, int32(0), sideEffectRuns.Load())

	_, err := workers.Call[*execResult](t.Context(), b, "Exec")
	require.NoError(t, err)
	s, err := workers.Call[string](t.Context(), b, "Maybe")
	require.NoError(t, err, "an interface result may hold anything: the call runs")
	assert.Equal(t, "text", s)
	assert.Equal(t, int32(2), sideEffectRuns.Load())
}

// nested hands out and takes targets inside other values.
type nested struct{ workers.Entrypoint }

type Holder struct {
	Name    string
	Counter any
}

type badHolder struct {
	Counter *Counter // the target's own type: cannot hold a stub
}

type secretive struct {
	Name string
	db   []byte // unexported data
}

type stamped struct {
	When time.Time // marshals itself: crosses
}

func (w *nested) Wrapped() Holder { return Holder{Name: "c", Counter: &Counter{n: 40}} }
func (w *nested) InMap() map[string]any {
	return map[string]any{"a": &Counter{n: 1}, "b": []any{&Counter{n: 2}}}
}
func (w *nested) Bad() badHolder            { return badHolder{Counter: &Counter{}} }
func (w *nested) Secret() secretive         { return secretive{Name: "s", db: []byte("password")} }
func (w *nested) Stamp(s stamped) time.Time { return s.When }
func (w *nested) Use(ctx context.Context, h Holder) (int, error) {
	s, ok := h.Counter.(*workers.Stub)
	if !ok {
		return 0, fmt.Errorf("got %T", h.Counter)
	}
	return workers.Call[int](ctx, s, "Increment", 1)
}

func TestTargetsNestedInValues(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "nested", workers.Worker{Default: workers.New[nested]()})
	b := bind(reg, "nested")
	ctx := t.Context()

	h, err := workers.Call[Holder](ctx, b, "Wrapped")
	require.NoError(t, err)
	s, ok := h.Counter.(*workers.Stub)
	require.True(t, ok, "a target in a field of type any arrives as a *Stub, not %T", h.Counter)
	n, err := workers.Call[int](ctx, s, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 42, n)

	m, err := workers.Call[map[string]any](ctx, b, "InMap")
	require.NoError(t, err)
	require.IsType(t, (*workers.Stub)(nil), m["a"])
	require.IsType(t, (*workers.Stub)(nil), m["b"].([]any)[0])

	// A target the caller made, passed inside an argument, runs where it was made.
	mine := &Counter{n: 10}
	n, err = workers.Call[int](ctx, b, "Use", Holder{Counter: mine})
	require.NoError(t, err)
	assert.Equal(t, 11, n)
	assert.Equal(t, 11, mine.n, "the callee called the caller's own Counter")

	_, err = b.Call(ctx, "Bad")
	require.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "crosses by reference as a *workers.Stub")
	assert.Contains(t, err.Error(), ".Counter")
}

func TestUnexportedDataDoesNotCross(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "nested", workers.Worker{Default: workers.New[nested]()})
	b := bind(reg, "nested")
	_, err := b.Call(t.Context(), "Secret")
	require.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "result")
	assert.Contains(t, err.Error(), "unexported field db")
	assert.Contains(t, err.Error(), "encoding.BinaryMarshaler")
	assert.Contains(t, err.Error(), "workers.RpcTarget")
	assert.NotContains(t, err.Error(), "password")

	_, err = b.Call(t.Context(), "Stamp", secretive{Name: "x", db: []byte("k")})
	require.ErrorIs(t, err, workers.ErrInvalidArgument, "refused as an argument too")

	now := time.Now()
	got, err := workers.Call[time.Time](t.Context(), b, "Stamp", stamped{When: now})
	require.NoError(t, err, "time.Time marshals itself")
	assert.True(t, now.Equal(got))
}
