package remote_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Link is a target whose methods return targets, for chains of pipes.
type Link struct {
	workers.RpcTarget
	depth int
	c     *Chain
}

var errBrokenLink = errors.New("broken link")

var linkKnown = remote.WithErrors(remote.Sentinel("test.broken_link", errBrokenLink))

func (l *Link) Next() *Link { l.c.runs.Add(1); return &Link{depth: l.depth + 1, c: l.c} }
func (l *Link) Depth() int  { l.c.runs.Add(1); return l.depth }
func (l *Link) Fail() (*Link, error) {
	l.c.runs.Add(1)
	return nil, errBrokenLink
}
func (l *Link) Dispose() { l.c.disposed.Add(1) }

// Chain serves Links; its fields count what ran on the serving side.
type Chain struct {
	workers.Entrypoint
	runs     *atomic.Int32
	disposed *atomic.Int32
	gate     chan struct{} // Gated waits for it
	slow     chan error    // what ctx said to Slow when it ended
}

func (w *Chain) Root(depth int) *Link { w.runs.Add(1); return &Link{depth: depth, c: w} }
func (w *Chain) Number() int          { w.runs.Add(1); return 42 }
func (w *Chain) Point() map[string]int {
	return map[string]int{"x": 1, "y": 2}
}

// Gated returns a Link once the test opens the gate.
func (w *Chain) Gated(ctx context.Context) (*Link, error) {
	select {
	case <-w.gate:
		return w.Root(0), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Later returns, once the test opens the gate, what names: a Link, a
// number, a binding.
func (w *Chain) Later(ctx context.Context, what string) (any, error) {
	select {
	case <-w.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch what {
	case "link":
		return w.Root(0), nil
	case "number":
		return w.Number(), nil
	case "other":
		return w.Other(), nil
	}
	return nil, errBrokenLink
}

// Slow runs until its ctx ends, and reports how.
func (w *Chain) Slow(ctx context.Context) (*Link, error) {
	_, deadline := ctx.Deadline()
	w.slow <- nil
	<-ctx.Done()
	if deadline {
		w.slow <- errors.Join(ctx.Err(), errors.New("with a deadline"))
	} else {
		w.slow <- ctx.Err()
	}
	return nil, ctx.Err()
}

type chainFixture struct {
	b              *workers.Binding
	caller         *workers.Registry
	runs, disposed *atomic.Int32
	gate           chan struct{}
	slow           chan error
	closeGate      func()
	servedBy       *workers.Registry
	servedURL      string
	clientOpts     []remote.ClientOption
}

func chainRegistry(t testing.TB) (*workers.Registry, *chainFixture) {
	t.Helper()
	fx := &chainFixture{runs: new(atomic.Int32), disposed: new(atomic.Int32), gate: make(chan struct{}), slow: make(chan error, 2)}
	var closed atomic.Bool
	fx.closeGate = func() {
		if closed.CompareAndSwap(false, true) {
			close(fx.gate)
		}
	}
	t.Cleanup(fx.closeGate)
	reg := newRegistry(t)
	require.NoError(t, reg.Register("chain", workers.Worker{Default: workers.NewFunc(func() *Chain {
		return &Chain{runs: fx.runs, disposed: fx.disposed, gate: fx.gate, slow: fx.slow}
	}), Services: []workers.Service{{Binding: "OTHER", Service: "secret"}}}))
	require.NoError(t, reg.Register("secret", workers.Worker{Default: workers.New[Secret]()}))
	return reg, fx
}

// remoteChain serves Chain and returns a fixture whose binding reaches it
// through a session.
func remoteChain(t testing.TB, handler []remote.HandlerOption, client ...remote.ClientOption) *chainFixture {
	t.Helper()
	reg, fx := chainRegistry(t)
	if handler == nil {
		handler = []remote.HandlerOption{remote.InsecureAllowAll()}
	}
	handler = append(handler, linkKnown)
	fx.servedBy = reg
	fx.servedURL = serve(t, reg, handler...)
	fx.clientOpts = append(client, linkKnown)
	fx.caller = dial(t, fx.servedURL, []string{"chain", "secret"}, fx.clientOpts...)
	fx.b = fx.caller.Bind(workers.Service{Service: "chain"})
	return fx
}

// within fails the test unless fn returns within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// Pipe returns at once, before the call it sends has a result, for a
// remote binding, a remote piped result and a remote stub alike; calls on
// its stub travel behind it.
func TestRemotePipeReturnsAtOnce(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	warm, err := workers.Call[*workers.Stub](ctx, fx.b, "Root", 7)
	require.NoError(t, err)
	defer warm.Close()

	var gated, next, onStub *workers.Stub
	within(t, 5*time.Second, "Pipe of a call that cannot finish yet", func() {
		gated = workers.Pipe(ctx, fx.b, "Gated")
		next = workers.Pipe(ctx, gated, "Next")
		onStub = workers.Pipe(ctx, workers.Pipe(ctx, warm, "Next"), "Next")
	})
	defer gated.Close()
	defer next.Close()
	defer onStub.Close()
	depth, err := workers.Call[int](ctx, onStub, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 9, depth, "pipes on a remote stub")

	got := make(chan int, 1)
	go func() {
		d, err := workers.Call[int](ctx, next, "Depth")
		assert.NoError(t, err)
		got <- d
	}()
	select {
	case <-got:
		t.Fatal("a call on a result that does not exist yet returned")
	case <-time.After(50 * time.Millisecond):
	}
	fx.closeGate()
	assert.Equal(t, 1, <-got, "the call waited for the result it was piped on")
}

// A chain of pipes over a session; Await gives each call's own result,
// converted as workers.Call converts it.
func TestRemotePipeChain(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	var root, grandchild *workers.Stub
	within(t, 5*time.Second, "a chain of Pipes on a result not there yet", func() {
		root = workers.Pipe(ctx, fx.b, "Later", "link")
		grandchild = workers.Pipe(ctx, workers.Pipe(ctx, workers.Pipe(ctx, root, "Next"), "Next"), "Next")
	})
	defer root.Close()
	defer grandchild.Close()
	fx.closeGate()
	depth, err := workers.Call[int](ctx, grandchild, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 3, depth)
	v, err := grandchild.Call(ctx, "Depth")
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)

	s, err := workers.Await[*workers.Stub](ctx, grandchild)
	require.NoError(t, err)
	depth, err = workers.Call[int](ctx, s, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 3, depth, "Await gives the piped call's own result")

	tests := []struct {
		name string
		get  func() (any, error)
		want any
	}{
		{"int", func() (any, error) { return workers.Await[int](ctx, workers.Pipe(ctx, fx.b, "Number")) }, 42},
		{"int8", func() (any, error) { return workers.Await[int8](ctx, workers.Pipe(ctx, fx.b, "Number")) }, int8(42)},
		{"any", func() (any, error) { return workers.Await[any](ctx, workers.Pipe(ctx, fx.b, "Number")) }, 42},
		{"struct", func() (any, error) {
			return workers.Await[struct{ X, Y int }](ctx, workers.Pipe(ctx, fx.b, "Point"))
		}, struct{ X, Y int }{1, 2}},
		{"map", func() (any, error) { return workers.Await[map[string]int](ctx, workers.Pipe(ctx, fx.b, "Point")) }, map[string]int{"x": 1, "y": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err = workers.Await[string](ctx, workers.Pipe(ctx, fx.b, "Number"))
	assert.ErrorIs(t, err, workers.ErrInvalidResult)
}

// If a call fails, every call piped on its result fails with an error that
// matches the original (over the wire: a sentinel both sides name), and
// nothing runs on the result that never existed.
func TestRemotePipeErrorsFlowDownTheChain(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	var root, failed, child, grandchild *workers.Stub
	within(t, 5*time.Second, "a chain of Pipes on a result not there yet", func() {
		root = workers.Pipe(ctx, fx.b, "Later", "link")
		failed = workers.Pipe(ctx, root, "Fail")
		child = workers.Pipe(ctx, failed, "Next")
		grandchild = workers.Pipe(ctx, child, "Next")
	})
	defer root.Close()
	before := fx.runs.Load()
	fx.closeGate()
	_, err := workers.Call[int](ctx, grandchild, "Depth")
	require.ErrorIs(t, err, errBrokenLink)
	assert.Contains(t, err.Error(), "the piped call failed")
	_, err = workers.Call[int](ctx, child, "Depth")
	assert.ErrorIs(t, err, errBrokenLink)
	_, err = workers.Await[*workers.Stub](ctx, grandchild)
	assert.ErrorIs(t, err, errBrokenLink)
	_, err = workers.Await[*workers.Stub](ctx, failed)
	assert.ErrorIs(t, err, errBrokenLink)
	assert.Equal(t, before+2, fx.runs.Load(), "only Later's Root and Fail ran: nothing ran on the result that never existed")
	for _, s := range []*workers.Stub{failed, child, grandchild} {
		require.NoError(t, s.Close())
	}

	_, err = workers.Call[int](ctx, workers.Pipe(ctx, fx.b, "Nope"), "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	_, err = workers.Call[int](ctx, workers.Pipe(ctx, workers.Pipe(ctx, fx.b, "Nope"), "Next"), "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "through a longer chain")
}

// A call piped on a result that is no RpcTarget fails with an error that
// names the result's type, on the serving side and after it has arrived.
func TestRemotePipeOnAPlainResult(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	var n, next *workers.Stub
	within(t, 5*time.Second, "Pipe", func() {
		n = workers.Pipe(ctx, fx.b, "Later", "number")
		next = workers.Pipe(ctx, n, "Next")
	})
	defer n.Close()
	defer next.Close()
	fx.closeGate()
	_, err := workers.Call[int](ctx, next, "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "through a longer chain")
	_, err = workers.Call[int](ctx, n, "Depth")
	require.ErrorIs(t, err, workers.ErrMethodNotFound)
	assert.Contains(t, err.Error(), "the result is a int, not an RpcTarget")
	_, err = workers.Await[int](ctx, n)
	require.NoError(t, err)
	_, err = workers.Call[int](ctx, workers.Pipe(ctx, n, "Next"), "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "after it has arrived too")
}

// Canceling the ctx of a Pipe cancels the piped call where it runs; a
// deadline travels with it.
func TestRemotePipeContext(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	var s *workers.Stub
	within(t, 5*time.Second, "Pipe", func() { s = workers.Pipe(ctx, fx.b, "Slow") })
	defer s.Close()
	require.NoError(t, <-fx.slow)
	cancel()
	select {
	case err := <-fx.slow:
		assert.ErrorIs(t, err, context.Canceled, "the serving side's ctx was canceled")
	case <-time.After(5 * time.Second):
		t.Fatal("canceling the Pipe's ctx did not cancel the call where it runs")
	}
	_, err := workers.Call[int](t.Context(), s, "Depth")
	assert.ErrorIs(t, err, context.Canceled)

	short, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	var d *workers.Stub
	within(t, 5*time.Second, "Pipe", func() { d = workers.Pipe(short, fx.b, "Slow") })
	defer d.Close()
	require.NoError(t, <-fx.slow)
	err = <-fx.slow
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "with a deadline", "the deadline travelled")
	_, err = workers.Await[*workers.Stub](t.Context(), d)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// Closing a piped stub releases the result: its Dispose runs on the
// serving side, at once when it has arrived, else when it arrives.
func TestRemotePipeRelease(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	piped := workers.Pipe(ctx, fx.b, "Root", 1)
	_, err := workers.Call[int](ctx, piped, "Depth")
	require.NoError(t, err)
	require.NoError(t, piped.Close())
	assert.Eventually(t, func() bool { return fx.disposed.Load() == 1 }, 5*time.Second, time.Millisecond,
		"closing the piped stub releases the result")
	_, err = piped.Call(ctx, "Depth")
	assert.ErrorIs(t, err, workers.ErrDisposed)
	_, err = workers.Await[*workers.Stub](ctx, piped)
	assert.ErrorIs(t, err, workers.ErrDisposed)

	within(t, 5*time.Second, "Pipe", func() { require.NoError(t, workers.Pipe(ctx, fx.b, "Gated").Close()) })
	fx.closeGate()
	assert.Eventually(t, func() bool { return fx.disposed.Load() == 2 }, 5*time.Second, time.Millisecond,
		"a result released before it arrived is released when it does")

	// A chain: each piped result is released with its own stub.
	a := workers.Pipe(ctx, fx.b, "Root", 1)
	b := workers.Pipe(ctx, a, "Next")
	_, err = workers.Call[int](ctx, b, "Depth")
	require.NoError(t, err)
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
	assert.Eventually(t, func() bool { return fx.disposed.Load() == 4 }, 5*time.Second, time.Millisecond)
}

// A session keeps a bounded number of piped calls pending: past the bound
// the piped call fails with ErrSessionLimit, and so does what is piped on
// it; the session goes on.
func TestRemotePipeLimit(t *testing.T) {
	fx := remoteChain(t, []remote.HandlerOption{remote.InsecureAllowAll(), remote.WithPipeLimit(2), remote.WithSessionLimits(0, 0)})
	ctx := t.Context()
	var a, b, c *workers.Stub
	within(t, 5*time.Second, "Pipe", func() {
		a = workers.Pipe(ctx, fx.b, "Gated")
		b = workers.Pipe(ctx, fx.b, "Gated")
		c = workers.Pipe(ctx, fx.b, "Gated")
	})
	defer a.Close()
	defer b.Close()
	defer c.Close()
	_, err := workers.Await[*workers.Stub](ctx, c)
	require.ErrorIs(t, err, remote.ErrSessionLimit)
	assert.ErrorContains(t, err, "2 results kept for piped calls already (WithPipeLimit)")
	_, err = workers.Call[int](ctx, c, "Depth")
	assert.ErrorIs(t, err, remote.ErrSessionLimit)
	_, err = workers.Call[int](ctx, workers.Pipe(ctx, c, "Next"), "Depth")
	assert.ErrorIs(t, err, remote.ErrSessionLimit)

	n, err := workers.Call[int](ctx, fx.b, "Number")
	require.NoError(t, err)
	assert.Equal(t, 42, n, "the session goes on")
	fx.closeGate()
	depth, err := workers.Call[int](ctx, a, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 0, depth)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	assert.Eventually(t, func() bool {
		s := workers.Pipe(ctx, fx.b, "Root", 5)
		defer s.Close()
		d, err := workers.Call[int](ctx, s, "Depth")
		return err == nil && d == 5
	}, 5*time.Second, 10*time.Millisecond, "released piped results make room")
}

// The serving side runs no piped call that the caller's credential could
// not make directly: a refused first call fails the chain, and a binding a
// piped call returns keeps the Allow rules.
func TestRemotePipeAllowRules(t *testing.T) {
	fx := remoteChain(t, []remote.HandlerOption{remote.AllowToken("tok", remote.Allow{Service: "chain", Methods: []string{"Number", "Later"}})},
		remote.WithBearerToken("tok"))
	ctx := t.Context()
	before := fx.runs.Load()
	_, err := workers.Call[int](ctx, workers.Pipe(ctx, workers.Pipe(ctx, fx.b, "Root", 1), "Next"), "Depth")
	assert.ErrorIs(t, err, remote.ErrPermissionDenied)
	assert.Equal(t, before, fx.runs.Load(), "nothing ran")

	var other *workers.Stub
	within(t, 5*time.Second, "Pipe", func() { other = workers.Pipe(ctx, fx.b, "Later", "other") })
	defer other.Close()
	fx.closeGate()
	_, err = other.Call(ctx, "Reveal")
	assert.ErrorIs(t, err, remote.ErrPermissionDenied, "the piped binding does not widen the credential")
}

// Other returns a binding of the serving registry.
func (w *Chain) Other() *workers.Binding { return w.Env.Service("OTHER") }

// Over HTTP/1.1 there is no session: Pipe makes a plain call, and the
// chain still works.
func TestRemotePipeFallsBackToUnary(t *testing.T) {
	reg, _ := chainRegistry(t)
	caller := dial(t, serve(t, reg, remote.InsecureAllowAll()), []string{"chain"}, remote.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	b := caller.Bind(workers.Service{Service: "chain"})
	n, err := workers.Await[int](t.Context(), workers.Pipe(t.Context(), b, "Number"))
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	_, err = workers.Call[int](t.Context(), workers.Pipe(t.Context(), b, "Number"), "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
}

// When a session ends, the results its peer's piped calls kept are
// released with everything else the peer held: Dispose runs.
func TestRemotePipeReleasedWithTheSession(t *testing.T) {
	fx := remoteChain(t, nil)
	ctx := t.Context()
	piped := workers.Pipe(ctx, fx.b, "Root", 1)
	_, err := workers.Call[int](ctx, piped, "Depth")
	require.NoError(t, err)
	require.NoError(t, fx.caller.Close(ctx), "ends the Transport's session")
	assert.Eventually(t, func() bool { return fx.disposed.Load() == 1 }, 5*time.Second, time.Millisecond,
		"the kept result is released at the session's end")
	_, err = piped.Call(ctx, "Depth")
	assert.Error(t, err)
	require.NoError(t, piped.Close())
}
