package workers_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Crate is an RpcTarget that keeps what it is given.
type Crate struct {
	workers.RpcTarget
	items []int
}

// Put changes its argument and returns what it keeps.
func (b *Crate) Put(xs []int) []int {
	xs[0] = 99
	b.items = xs
	return b.items
}

func (b *Crate) First() int { return b.items[0] }

func (b *Crate) Scale(by int64) int64 { return int64(len(b.items)) * by }

type crateMaker struct{ workers.Entrypoint }

func (w *crateMaker) MakeCrate() *Crate { return &Crate{} }

// A call through a stub copies its arguments and result, and converts
// numbers only exactly, as a binding call does.
func TestStubCopiesAndConvertsAsACall(t *testing.T) {
	reg := workers.NewRegistry()
	t.Cleanup(func() { reg.Close(context.Background()) })
	require.NoError(t, reg.Register("boxes", workers.Worker{Default: workers.New[crateMaker]()}))
	ctx := t.Context()
	box, err := workers.Call[*workers.Stub](ctx, reg.Bind(workers.Service{Service: "boxes"}), "MakeCrate")
	require.NoError(t, err)
	defer box.Close()

	xs := []int{1, 2}
	got, err := workers.Call[[]int](ctx, box, "Put", xs)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, xs, "the target changed its copy of the argument")
	assert.Equal(t, []int{99, 2}, got)
	got[0] = 7
	first, err := workers.Call[int](ctx, box, "First")
	require.NoError(t, err)
	assert.Equal(t, 99, first, "the caller changed its copy of the result")

	n, err := workers.Call[int](ctx, box, "Scale", 21)
	require.NoError(t, err, "an int reaches an int64 parameter, an int64 result an int")
	assert.Equal(t, 42, n)
	_, err = box.Call(ctx, "Scale", 1.5)
	assert.ErrorIs(t, err, workers.ErrInvalidArgument, "1.5 is no int64")
	_, err = workers.Call[string](ctx, box, "Scale", 1)
	assert.ErrorIs(t, err, workers.ErrInvalidResult)
}

// ErrDisposed says what Workers says.
func TestErrDisposedMessage(t *testing.T) {
	assert.Equal(t, "workers: RPC stub used after being disposed.", workers.ErrDisposed.Error())
}
