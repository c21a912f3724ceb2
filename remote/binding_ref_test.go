package remote_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/gentest"
	"github.com/seed-29c11ff2/workers/remote"
)

// Relay receives service bindings from its callers and calls them, as a
// Workers entrypoint calls a service stub passed over RPC.
type Relay struct{ workers.Entrypoint }

var (
	relayMu   sync.Mutex
	relayKept *workers.Binding
)

// AddThrough calls b three ways: by name, with Call[R], and with the typed
// client generated for gentest.Calc.
func (w *Relay) AddThrough(ctx context.Context, b *workers.Binding, x int) (int, error) {
	v, err := b.Call(ctx, "Add", x, 1)
	if err != nil {
		return 0, err
	}
	n, err := workers.Call[int](ctx, b, "Add", v, 10)
	if err != nil {
		return 0, err
	}
	return gentest.NewCalcClient(b).Add(ctx, n, 100)
}

// PipeThrough pipes a call through b, which falls back to a call.
func (w *Relay) PipeThrough(ctx context.Context, b *workers.Binding, x int) (int, error) {
	return workers.Await[int](ctx, workers.Pipe(ctx, b, "Add", x, 2))
}

// Kind says what a binding declared as a Caller or any arrives as.
func (w *Relay) Kind(c workers.Caller, v any) string {
	return kindOf(c) + "," + kindOf(v)
}

func kindOf(v any) string {
	switch v.(type) {
	case *workers.Binding:
		return "binding"
	case *workers.Stub:
		return "stub"
	}
	return "other"
}

// Keep keeps b past its call: it is released when the call returns.
func (w *Relay) Keep(b *workers.Binding) {
	relayMu.Lock()
	relayKept = b
	relayMu.Unlock()
}

func (w *Relay) CallKept(ctx context.Context, x int) (int, error) {
	relayMu.Lock()
	b := relayKept
	relayMu.Unlock()
	return workers.Call[int](ctx, b, "Add", x, 1)
}

// FetchThrough tries a Fetch through b: a peer's binding carries RPC only.
func (w *Relay) FetchThrough(b *workers.Binding) error {
	_, err := b.Fetch(httptest.NewRequest(http.MethodGet, "http://calc/", nil))
	return err
}

// Back returns the binding it got.
func (w *Relay) Back(b *workers.Binding) *workers.Binding { return b }

// Calculator is a binding of the serving registry, returned to callers.
func (w *Relay) Calculator() *workers.Binding { return w.Env.Service("CALC") }

// relayPair serves relay (with calc beside it) and returns the caller's
// registry, which runs a calc of its own.
func relayPair(t *testing.T) (*workers.Registry, *workers.Binding) {
	t.Helper()
	srv := newRegistry(t)
	require.NoError(t, srv.Register("relay", workers.Worker{Default: workers.New[Relay](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}}}))
	require.NoError(t, srv.Register("calc", workers.Worker{Default: workers.New[gentest.Calc]()}))
	caller := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"relay"})
	require.NoError(t, caller.Register("calc", workers.Worker{Default: workers.New[gentest.Calc]()}))
	return caller, caller.Bind(workers.Service{Service: "relay"})
}

// A *workers.Binding the caller passes reaches the serving side as a
// *workers.Binding that calls the caller's worker through the session: by
// name, Call[R], typed clients and Pipe; declared Caller or any, it is a
// Binding too, as in-process.
func TestSessionBindingArgument(t *testing.T) {
	caller, relay := relayPair(t)
	ctx := t.Context()
	calc := caller.Bind(workers.Service{Service: "calc"})

	n, err := workers.Call[int](ctx, relay, "AddThrough", calc, 1)
	require.NoError(t, err)
	assert.Equal(t, 1+1+10+100, n)

	n, err = workers.Call[int](ctx, relay, "PipeThrough", calc, 40)
	require.NoError(t, err)
	assert.Equal(t, 42, n)

	kind, err := workers.Call[string](ctx, relay, "Kind", calc, calc)
	require.NoError(t, err)
	assert.Equal(t, "binding,binding", kind)

	back, err := workers.Call[*workers.Binding](ctx, relay, "Back", calc)
	require.NoError(t, err)
	assert.Same(t, calc, back, "back in its own process, the binding is the caller's own")

	err = workersErr(relay.Call(ctx, "FetchThrough", calc))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RPC calls only, not Fetch")
}

// A binding received as an argument is released when the method returns:
// kept past it, its calls fail with ErrDisposed.
func TestSessionBindingArgumentReleased(t *testing.T) {
	caller, relay := relayPair(t)
	ctx := t.Context()
	_, err := relay.Call(ctx, "Keep", caller.Bind(workers.Service{Service: "calc"}))
	require.NoError(t, err)
	_, err = relay.Call(ctx, "CallKept", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	assert.Contains(t, err.Error(), "RPC stub used after being disposed.")
}

// BindingHolder calls through a binding a remote worker returned, within its own
// invocation, and keeps it past the invocation.
type BindingHolder struct{ workers.Entrypoint }

var (
	bindingHolderMu   sync.Mutex
	bindingHolderKept *workers.Binding
)

func (w *BindingHolder) Use(ctx context.Context, x int) (int, error) {
	b, err := workers.Call[*workers.Binding](ctx, w.Env.Service("RELAY"), "Calculator")
	if err != nil {
		return 0, err
	}
	bindingHolderMu.Lock()
	bindingHolderKept = b
	bindingHolderMu.Unlock()
	return gentest.NewCalcClient(b).Add(ctx, x, 2)
}

func (w *BindingHolder) UseKept(ctx context.Context, x int) (int, error) {
	bindingHolderMu.Lock()
	b := bindingHolderKept
	bindingHolderMu.Unlock()
	return workers.Call[int](ctx, b, "Add", x, 2)
}

// A binding the server returns reaches the caller as a *workers.Binding
// whose calls run in the serving process; received by an invocation, it is
// released when that invocation ends.
func TestSessionBindingResult(t *testing.T) {
	caller, relay := relayPair(t)
	ctx := t.Context()
	b, err := workers.Call[*workers.Binding](ctx, relay, "Calculator")
	require.NoError(t, err)
	n, err := workers.Call[int](ctx, b, "Add", 20, 22)
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	n, err = gentest.NewCalcClient(b).Add(ctx, 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	v, err := b.Call(ctx, "Add", 1, 1)
	require.NoError(t, err)
	assert.EqualValues(t, 2, v)
	_, err = b.Call(ctx, "Ad", 1, 1)
	assert.ErrorIs(t, err, workers.ErrMethodNotFound, "the serving side's errors")

	untyped, err := relay.Call(ctx, "Calculator")
	require.NoError(t, err)
	assert.IsType(t, (*workers.Binding)(nil), untyped, "a binding arrives as one, as in-process")
	st, err := workers.Call[*workers.Stub](ctx, relay, "Calculator")
	require.NoError(t, err, "declared *Stub, it is a stub the caller can Dup and Close")
	require.NoError(t, st.Close())

	require.NoError(t, caller.Register("holder", workers.Worker{Default: workers.New[BindingHolder](),
		Services: []workers.Service{{Binding: "RELAY", Service: "relay"}}}))
	holder := caller.Bind(workers.Service{Service: "holder"})
	n, err = workers.Call[int](ctx, holder, "Use", 40)
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	_, err = workers.Call[int](ctx, holder, "UseKept", 40)
	assert.ErrorIs(t, err, workers.ErrDisposed, "released when the invocation that received it ended")
}

// A binding passed on to a third process calls the original through the
// process that holds it.
func TestSessionBindingPassedOn(t *testing.T) {
	caller, relay := relayPair(t)
	ctx := t.Context()
	b, err := workers.Call[*workers.Binding](ctx, relay, "Calculator")
	require.NoError(t, err)

	third := newRegistry(t)
	require.NoError(t, third.Register("relay", workers.Worker{Default: workers.New[Relay]()}))
	other := dial(t, serve(t, third, remote.InsecureAllowAll()), []string{"relay"})
	_ = caller
	// The caller's registry holds b; it hands it to the third process
	// through a registry of its own that dials there.
	n, err := workers.Call[int](ctx, other.Bind(workers.Service{Service: "relay"}), "AddThrough", b, 1)
	require.NoError(t, err)
	assert.Equal(t, 112, n)

	back, err := workers.Call[*workers.Binding](ctx, relay, "Back", b)
	require.NoError(t, err, "back to the process that made it")
	n, err = workers.Call[int](ctx, back, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func workersErr(_ any, err error) error { return err }

// FarProxy returns a binding it got from a worker in a third process.
type FarProxy struct{ workers.Entrypoint }

func (w *FarProxy) Far(ctx context.Context) (*workers.Binding, error) {
	return workers.Call[*workers.Binding](ctx, w.Env.Service("FAR"), "Calculator")
}

// A binding the server got from a third process and hands to its caller
// reaches that process: the server's Allow rules, which name its own
// services, do not stand in the way of a capability it chose to hand on.
func TestSessionBindingProxied(t *testing.T) {
	farReg := newRegistry(t)
	require.NoError(t, farReg.Register("relay", workers.Worker{Default: workers.New[Relay](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}}}))
	require.NoError(t, farReg.Register("calc", workers.Worker{Default: workers.New[gentest.Calc]()}))
	farURL := serve(t, farReg, remote.InsecureAllowAll())

	mid := newRegistry(t)
	require.NoError(t, remote.Register(mid, "relay", farURL))
	require.NoError(t, mid.Register("proxy", workers.Worker{Default: workers.New[FarProxy](),
		Services: []workers.Service{{Binding: "FAR", Service: "relay"}}}))
	caller := dial(t, serve(t, mid, remote.AllowToken("tok", remote.Allow{Service: "proxy"})), []string{"proxy"}, remote.WithBearerToken("tok"))
	ctx := t.Context()
	b, err := workers.Call[*workers.Binding](ctx, caller.Bind(workers.Service{Service: "proxy"}), "Far")
	require.NoError(t, err)
	n, err := workers.Call[int](ctx, b, "Add", 40, 2)
	require.NoError(t, err)
	assert.Equal(t, 42, n)
}
