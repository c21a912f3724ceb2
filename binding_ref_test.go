package workers_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// adder is the worker whose binding is passed around.
type adder struct{ workers.Entrypoint }

func (w *adder) Add(a, b int) int { return a + b }

// bindingTaker declares a binding parameter every way it can.
type bindingTaker struct{ workers.Entrypoint }

var (
	takerMu   sync.Mutex
	takerKept *workers.Stub
)

func (w *bindingTaker) ViaBinding(ctx context.Context, b *workers.Binding) (int, error) {
	return workers.Call[int](ctx, b, "Add", 1, 2)
}

func (w *bindingTaker) ViaCaller(ctx context.Context, c workers.Caller) (string, error) {
	_, err := workers.Call[int](ctx, c, "Add", 1, 2)
	return kind(c), err
}

func (w *bindingTaker) ViaAny(v any) string { return kind(v) }

// ViaStub calls the binding through a stub and keeps that stub past the
// call: it is released when the method returns.
func (w *bindingTaker) ViaStub(ctx context.Context, s *workers.Stub) (int, error) {
	takerMu.Lock()
	takerKept = s
	takerMu.Unlock()
	return workers.Call[int](ctx, s, "Add", 20, 22)
}

func kind(v any) string {
	switch v.(type) {
	case *workers.Binding:
		return "binding"
	case *workers.Stub:
		return "stub"
	}
	return "other"
}

// A *Binding passed in-process arrives as what the parameter declares, as
// it does over remote: a *Binding for *Binding, Caller and any; a *Stub,
// released when the method returns, for *Stub.
func TestBindingArgument(t *testing.T) {
	reg := workers.NewRegistry()
	t.Cleanup(func() { reg.Close(context.Background()) })
	require.NoError(t, reg.Register("adder", workers.Worker{Default: workers.New[adder]()}))
	require.NoError(t, reg.Register("taker", workers.Worker{Default: workers.New[bindingTaker]()}))
	ctx := t.Context()
	taker := reg.Bind(workers.Service{Service: "taker"})
	add := reg.Bind(workers.Service{Service: "adder"})

	n, err := workers.Call[int](ctx, taker, "ViaBinding", add)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	k, err := workers.Call[string](ctx, taker, "ViaCaller", add)
	require.NoError(t, err)
	assert.Equal(t, "binding", k)
	k, err = workers.Call[string](ctx, taker, "ViaAny", add)
	require.NoError(t, err)
	assert.Equal(t, "binding", k)

	n, err = workers.Call[int](ctx, taker, "ViaStub", add)
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	takerMu.Lock()
	kept := takerKept
	takerMu.Unlock()
	assert.Contains(t, kept.String(), `binding (service "adder")`)
	_, err = kept.Call(ctx, "Add", 1, 1)
	assert.ErrorIs(t, err, workers.ErrDisposed, "released when the method returned")
	n, err = workers.Call[int](ctx, add, "Add", 1, 1)
	require.NoError(t, err, "the caller's binding is not")
	assert.Equal(t, 2, n)
}
