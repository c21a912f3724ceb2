package remote_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Tally is an RpcTarget: its state stays in the process that made it.
type Tally struct {
	workers.RpcTarget
	mu sync.Mutex
	n  int
}

var tallyDisposed atomic.Int32

func (c *Tally) Increment(by int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += by
	return c.n
}

func (c *Tally) Dispose() { tallyDisposed.Add(1) }

// Store hands out Tallies and calls what its callers pass it.
type Store struct{ workers.Entrypoint }

func (w *Store) MakeTally(start int) *Tally { return &Tally{n: start} }

func (w *Store) Nested(start int) map[string]any {
	return map[string]any{"tally": &Tally{n: start}, "start": start}
}

func (w *Store) Apply(f func(int) (int, error), x int) (int, error) { return f(x) }

func (w *Store) ApplyPlain(f func(int) int, x int) int { return f(x) }

func (w *Store) ApplyAll(fs []any, x int) (int, error) {
	sum := 0
	for _, f := range fs {
		n, err := workers.Call[int](w.Ctx, f.(workers.Caller), "", x)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

func (w *Store) Bump(ctx context.Context, c *workers.Stub, by int) (int, error) {
	return workers.Call[int](ctx, c, "Increment", by)
}

var (
	keptMu sync.Mutex
	keptCb func(int) (int, error)
	keptSt *workers.Stub
)

// KeepCallback keeps the callback past the call: it is released then.
func (w *Store) KeepCallback(f func(int) (int, error)) {
	keptMu.Lock()
	keptCb = f
	keptMu.Unlock()
}

// KeepStub keeps a Dup of the stub it received: that one outlives the call.
func (w *Store) KeepStub(s *workers.Stub) {
	keptMu.Lock()
	keptSt = s.Dup()
	keptMu.Unlock()
}

func (w *Store) CallKept(ctx context.Context, by int) (int, error) {
	keptMu.Lock()
	s := keptSt
	keptMu.Unlock()
	return workers.Call[int](ctx, s, "Increment", by)
}

// Other returns a binding of the serving registry: calls through it keep
// the caller's Allow rules.
func (w *Store) Other() *workers.Binding { return w.Env.Service("OTHER") }

// Echo returns what it got.
func (w *Store) Echo(v any) any { return v }

// Secret is what the Allow rules of the tests keep from some callers.
type Secret struct{ workers.Entrypoint }

func (w *Secret) Reveal() string { return "the secret" }

func storeRegistry(t testing.TB) *workers.Registry {
	t.Helper()
	reg := newRegistry(t)
	require.NoError(t, reg.Register("store", workers.Worker{Default: workers.New[Store](),
		Services: []workers.Service{{Binding: "OTHER", Service: "secret"}}}))
	require.NoError(t, reg.Register("secret", workers.Worker{Default: workers.New[Secret]()}))
	return reg
}

func remoteStore(t testing.TB, opts ...remote.HandlerOption) (*workers.Binding, *workers.Registry) {
	t.Helper()
	if opts == nil {
		opts = []remote.HandlerOption{remote.InsecureAllowAll()}
	}
	caller := dial(t, serve(t, storeRegistry(t), opts...), []string{"store"})
	return caller.Bind(workers.Service{Service: "store"}), caller
}

// An RpcTarget a remote method returns reaches the caller as a stub whose
// calls run on that one object in the serving process; Dup and Close count
// references, and Dispose runs there once the last one is released.
func TestSessionStubFromServer(t *testing.T) {
	store, _ := remoteStore(t)
	ctx := t.Context()
	before := tallyDisposed.Load()
	tally, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 12)
	require.NoError(t, err)
	n, err := workers.Call[int](ctx, tally, "Increment", 3)
	require.NoError(t, err)
	assert.Equal(t, 15, n)
	n, err = workers.Call[int](ctx, tally, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 17, n, "the same object, not a copy")

	_, err = tally.Call(ctx, "Incremnt", 1)
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	_, err = tally.Call(ctx, "Dispose")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "Dispose is not callable")

	dup := tally.Dup()
	require.NoError(t, tally.Close())
	_, err = tally.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	n, err = workers.Call[int](ctx, dup, "Increment", 1)
	require.NoError(t, err, "a Dup keeps the target")
	assert.Equal(t, 18, n)
	assert.Equal(t, before, tallyDisposed.Load())
	require.NoError(t, dup.Close())
	assert.Eventually(t, func() bool { return tallyDisposed.Load() == before+1 }, 5*time.Second, time.Millisecond,
		"Dispose runs in the serving process after the last reference is released")

	untyped, err := store.Call(ctx, "MakeTally", 1)
	require.NoError(t, err)
	s, ok := untyped.(*workers.Stub)
	require.True(t, ok, "a target reaches Binding.Call as a *Stub, not as %T", untyped)
	s.Close()

	_, err = workers.Call[*Tally](ctx, store, "MakeTally", 1)
	assert.ErrorIs(t, err, workers.ErrInvalidResult, "the target's own type cannot be asked for")
	assert.Contains(t, err.Error(), "*workers.Stub")
}

// References inside values of interface type cross too.
func TestSessionNestedReferences(t *testing.T) {
	store, _ := remoteStore(t)
	ctx := t.Context()
	got, err := workers.Call[map[string]any](ctx, store, "Nested", 5)
	require.NoError(t, err)
	tally, ok := got["tally"].(*workers.Stub)
	require.True(t, ok, "got %T", got["tally"])
	defer tally.Close()
	assert.EqualValues(t, 5, got["start"])
	n, err := workers.Call[int](ctx, tally, "Increment", 1)
	require.NoError(t, err)
	assert.Equal(t, 6, n)

	sum, err := workers.Call[int](ctx, store, "ApplyAll", []any{
		func(x int) int { return x + 1 },
		func(x int) (int, error) { return x * 10, nil },
	}, 2)
	require.NoError(t, err)
	assert.Equal(t, 23, sum, "funcs inside a slice arrive as stubs that call back")
}

// A func passed to a remote method runs in the caller's process when the
// callee calls it; failures reach the callee loudly.
func TestSessionCallbacks(t *testing.T) {
	store, _ := remoteStore(t)
	ctx := t.Context()
	var ran atomic.Int32
	n, err := workers.Call[int](ctx, store, "Apply", func(x int) (int, error) {
		ran.Add(1)
		return x * 2, nil
	}, 21)
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	assert.Equal(t, int32(1), ran.Load(), "the callback ran here, once")

	n, err = workers.Call[int](ctx, store, "ApplyPlain", func(x int) int { return x + 1 }, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	boom := errors.New("boom")
	_, err = workers.Call[int](ctx, store, "Apply", func(int) (int, error) { return 0, boom }, 1)
	assert.ErrorContains(t, err, "boom", "the callback's error reaches the callee, and its caller")

	_, err = workers.Call[int](ctx, store, "ApplyPlain", func(int) int { panic("callback panic") }, 1)
	require.Error(t, err, "a failed callback without an error result panics in the callee: never a silent zero")
	var pe *workers.PanicError
	assert.ErrorAs(t, err, &pe)

	// Kept past the call, the callback is released: calling it fails.
	_, err = store.Call(ctx, "KeepCallback", func(x int) (int, error) { return x, nil })
	require.NoError(t, err)
	keptMu.Lock()
	f := keptCb
	keptMu.Unlock()
	require.NotNil(t, f)
	_, err = f(1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
}

// A stub the caller holds can be passed back to where it came from, and on
// to a third worker, which calls the original object.
func TestSessionPassStubsOn(t *testing.T) {
	store, _ := remoteStore(t)
	ctx := t.Context()
	tally, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 0)
	require.NoError(t, err)
	defer tally.Close()

	n, err := workers.Call[int](ctx, store, "Bump", tally, 5)
	require.NoError(t, err, "back to its own process")
	assert.Equal(t, 5, n)

	// A second serving process, which the caller hands the stub to.
	third := dial(t, serve(t, storeRegistry(t), remote.InsecureAllowAll()), []string{"store"})
	other := third.Bind(workers.Service{Service: "store"})
	n, err = workers.Call[int](ctx, other, "Bump", tally, 2)
	require.NoError(t, err, "a third worker calls the original through the caller")
	assert.Equal(t, 7, n)

	// A stub the callee keeps with Dup outlives the call.
	_, err = other.Call(ctx, "KeepStub", tally)
	require.NoError(t, err)
	n, err = workers.Call[int](ctx, other, "CallKept", 1)
	require.NoError(t, err)
	assert.Equal(t, 8, n)

	// Local targets cross the other way: the caller's own object.
	mine := &Tally{n: 100}
	n, err = workers.Call[int](ctx, store, "Bump", mine, 1)
	require.NoError(t, err)
	assert.Equal(t, 101, n, "the server called the caller's own Tally")
	assert.Equal(t, 101, mine.Increment(0))
}

// When a Transport closes, the serving side releases every reference it
// held of the caller's, and the caller's stubs of the server's fail with
// ErrDisposed; the server's Dispose hooks run.
func TestSessionReleasedOnDisconnect(t *testing.T) {
	srv := storeRegistry(t)
	base := serve(t, srv, remote.InsecureAllowAll())
	caller := workers.NewRegistry()
	require.NoError(t, remote.Register(caller, "store", base))
	store := caller.Bind(workers.Service{Service: "store"})
	ctx := t.Context()
	before := tallyDisposed.Load()
	tally, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 1)
	require.NoError(t, err)
	_, err = store.Call(ctx, "KeepCallback", func(x int) (int, error) { return x, nil })
	require.NoError(t, err)

	require.NoError(t, caller.Close(ctx))
	assert.Eventually(t, func() bool { return tallyDisposed.Load() == before+1 }, 5*time.Second, time.Millisecond,
		"the server released what the closed Transport held")
	start := time.Now()
	_, err = tally.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	assert.Less(t, time.Since(start), time.Second, "promptly")
}

// Calls through a binding the server handed out are held to the caller's
// Allow rules, as calls of the entrypoint itself are.
func TestSessionAllowRulesHoldThroughStubs(t *testing.T) {
	caller := dial(t, serve(t, storeRegistry(t), remote.AllowToken("tok", remote.Allow{Service: "store"})), []string{"store", "secret"}, remote.WithBearerToken("tok"))
	b := caller.Bind(workers.Service{Service: "store"})
	ctx := t.Context()
	other, err := workers.Call[*workers.Stub](ctx, b, "Other")
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Call(ctx, "Reveal")
	assert.ErrorIs(t, err, remote.ErrPermissionDenied, "the binding does not widen the credential")
	_, err = caller.Bind(workers.Service{Service: "secret"}).Call(ctx, "Reveal")
	assert.ErrorIs(t, err, remote.ErrPermissionDenied)

	// A credential that may call secret may call it through the stub.
	open := dial(t, serve(t, storeRegistry(t), remote.AllowToken("all", remote.Allow{Service: "*", Entrypoint: "*"})), []string{"store"}, remote.WithBearerToken("all"))
	other2, err := workers.Call[*workers.Stub](ctx, open.Bind(workers.Service{Service: "store"}), "Other")
	require.NoError(t, err)
	defer other2.Close()
	s, err := workers.Call[string](ctx, other2, "Reveal")
	require.NoError(t, err)
	assert.Equal(t, "the secret", s)
}

// The references a session may hold are bounded: past the bound a call
// fails with ErrSessionLimit, and the session goes on.
func TestSessionLimits(t *testing.T) {
	caller := dial(t, serve(t, storeRegistry(t), remote.InsecureAllowAll(), remote.WithSessionLimits(3, 0)), []string{"store"})
	store := caller.Bind(workers.Service{Service: "store"})
	ctx := t.Context()
	var held []*workers.Stub
	defer func() {
		for _, s := range held {
			s.Close()
		}
	}()
	for range 3 {
		s, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 1)
		require.NoError(t, err)
		held = append(held, s)
	}
	_, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 1)
	require.ErrorIs(t, err, remote.ErrSessionLimit)
	assert.Contains(t, err.Error(), "WithSessionLimits")
	held[0].Close()
	require.Eventually(t, func() bool {
		s, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 1)
		if err == nil {
			held = append(held, s)
		}
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "released references make room")

	// Calls in flight, likewise, on the calling side.
	few := dial(t, serve(t, storeRegistry(t), remote.InsecureAllowAll()), []string{"store"}, remote.WithSessionLimits(0, 1))
	fs := few.Bind(workers.Service{Service: "store"})
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := workers.Call[int](ctx, fs, "Apply", func(x int) (int, error) {
			close(started)
			<-release
			return x, nil
		}, 1)
		done <- err
	}()
	<-started
	_, err = workers.Call[int](ctx, fs, "ApplyPlain", func(x int) int { return x }, 1)
	assert.ErrorIs(t, err, remote.ErrSessionLimit)
	close(release)
	require.NoError(t, <-done)
}

// Till uses the remote store within its own invocation.
type Till struct{ workers.Entrypoint }

func (w *Till) UseTally(ctx context.Context) (int, error) {
	s, err := workers.Call[*workers.Stub](ctx, w.Env.Service("STORE"), "MakeTally", 40)
	if err != nil {
		return 0, err
	}
	return workers.Call[int](ctx, s, "Increment", 2)
}

// A stub an invocation receives as a result is released when the
// invocation ends, across processes too: the server's Dispose runs.
func TestSessionResultsReleasedWithTheInvocation(t *testing.T) {
	caller := dial(t, serve(t, storeRegistry(t), remote.InsecureAllowAll()), []string{"store"})
	require.NoError(t, caller.Register("till", workers.Worker{Default: workers.New[Till](),
		Services: []workers.Service{{Binding: "STORE", Service: "store"}}}))
	before := tallyDisposed.Load()
	n, err := workers.Call[int](t.Context(), caller.Bind(workers.Service{Service: "till"}), "UseTally")
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	assert.Eventually(t, func() bool { return tallyDisposed.Load() == before+1 }, 5*time.Second, time.Millisecond)
}

// killableDialer dials TCP and can cut every connection it made, as a
// crash of the calling process would.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *killableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

// When the caller's connection breaks, the server releases every
// reference the caller held (Dispose runs), calls of the caller's
// callbacks fail instead of hanging, and the caller's stubs fail promptly.
func TestSessionReleasedWhenTheConnectionBreaks(t *testing.T) {
	base := serve(t, storeRegistry(t), remote.InsecureAllowAll())
	d := &killableDialer{}
	tr := &http.Transport{DialContext: d.dial, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	caller := dial(t, base, []string{"store"}, remote.WithHTTPClient(&http.Client{Transport: tr}))
	store := caller.Bind(workers.Service{Service: "store"})
	ctx := t.Context()
	before := tallyDisposed.Load()
	tally, err := workers.Call[*workers.Stub](ctx, store, "MakeTally", 1)
	require.NoError(t, err)
	defer tally.Close()

	inCallback := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := workers.Call[int](ctx, store, "Apply", func(x int) (int, error) {
			close(inCallback)
			<-ctx.Done()
			return x, nil
		}, 1)
		done <- err
	}()
	<-inCallback
	d.kill()
	select {
	case err := <-done:
		assert.True(t, isUnavailable(err), "got %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not end with its connection")
	}
	assert.Eventually(t, func() bool { return tallyDisposed.Load() == before+1 }, 5*time.Second, time.Millisecond,
		"the server released the caller's references")
	_, err = tally.Call(ctx, "Increment", 1)
	assert.True(t, errors.Is(err, workers.ErrDisposed) || isUnavailable(err), "got %v", err)

	n, err := workers.Call[int](ctx, store, "ApplyPlain", func(x int) int { return x + 1 }, 1)
	require.NoError(t, err, "a new session, on a new connection")
	assert.Equal(t, 2, n)
}

// Over HTTP/1.1 there is no session: plain calls go unary as before, and
// references are refused with an error that says why.
func TestSessionFallsBackToUnary(t *testing.T) {
	base := serve(t, storeRegistry(t), remote.InsecureAllowAll())
	caller := dial(t, base, []string{"store"}, remote.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	store := caller.Bind(workers.Service{Service: "store"})
	got, err := workers.Call[string](t.Context(), store, "Echo", "plain")
	require.NoError(t, err)
	assert.Equal(t, "plain", got)
	_, err = workers.Call[int](t.Context(), store, "ApplyPlain", func(x int) int { return x }, 1)
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "argument 0: a value of type func(int) int cannot be sent to a remote worker as a value: it crosses by reference, which needs a session")
	before := tallyDisposed.Load()
	_, err = store.Call(t.Context(), "MakeTally", 1)
	assert.ErrorIs(t, err, workers.ErrInvalidArgument, "a target result is refused, not sent as an empty value")
	assert.ErrorContains(t, err, "result")
	assert.Eventually(t, func() bool { return tallyDisposed.Load() == before+1 }, 5*time.Second, time.Millisecond,
		"and released where it was made")
}

// sharedTally is one object the server keeps; a stub to it, nested in a
// result, must reach it and not a copy.
var sharedTally = &Tally{}

func (w *Store) NestedShared() map[string]any { return map[string]any{"tally": sharedTally} }

func TestSessionNestedTargetIsTheOriginal(t *testing.T) {
	store, _ := remoteStore(t)
	ctx := t.Context()
	got, err := workers.Call[map[string]any](ctx, store, "NestedShared")
	require.NoError(t, err)
	tally, ok := got["tally"].(*workers.Stub)
	require.True(t, ok, "got %T", got["tally"])
	defer tally.Close()
	before := sharedTally.value()
	_, err = workers.Call[int](ctx, tally, "Increment", 3)
	require.NoError(t, err)
	assert.Equal(t, before+3, sharedTally.value(), "the call ran on the server's own object")
}

func (c *Tally) value() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
