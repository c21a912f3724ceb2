package workers_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Node is a target whose methods return targets, for chains of pipes.
type Node struct {
	workers.RpcTarget
	depth int
	ran   *atomic.Int32
}

func (n *Node) Child() *Node {
	n.ran.Add(1)
	return &Node{depth: n.depth + 1, ran: n.ran}
}
func (n *Node) Depth() int { n.ran.Add(1); return n.depth }
func (n *Node) Fail() (*Node, error) {
	n.ran.Add(1)
	return nil, errShape
}

type nodeMaker struct{ workers.Entrypoint }

var nodeRuns atomic.Int32

func (w *nodeMaker) Root() *Node   { return &Node{ran: &nodeRuns} }
func (w *nodeMaker) Number() int   { return 42 }
func (w *nodeMaker) Broken() error { return errShape }

func nodeBinding(t *testing.T) *workers.Binding {
	reg := newRegistry(t)
	register(t, reg, "nodes", workers.Worker{Default: workers.New[nodeMaker]()})
	return bind(reg, "nodes")
}

func TestPipeChain(t *testing.T) {
	b := nodeBinding(t)
	ctx := t.Context()
	root := workers.Pipe(ctx, b, "Root")
	defer root.Close()
	grandchild := workers.Pipe(ctx, workers.Pipe(ctx, root, "Child"), "Child")
	defer grandchild.Close()
	depth, err := workers.Call[int](ctx, grandchild, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 2, depth)

	s, err := workers.Await[*workers.Stub](ctx, grandchild)
	require.NoError(t, err)
	depth, err = workers.Call[int](ctx, s, "Depth")
	require.NoError(t, err)
	assert.Equal(t, 2, depth, "Await gives the piped call's own result")

	n, err := workers.Await[int64](ctx, workers.Pipe(ctx, b, "Number"))
	require.NoError(t, err)
	assert.Equal(t, int64(42), n, "any result, with the conversions of Call")
}

func TestPipeErrorsFlowDownTheChain(t *testing.T) {
	b := nodeBinding(t)
	ctx := t.Context()
	before := nodeRuns.Load()
	failed := workers.Pipe(ctx, workers.Pipe(ctx, b, "Root"), "Fail")
	child := workers.Pipe(ctx, failed, "Child")
	_, err := workers.Call[int](ctx, child, "Depth")
	require.ErrorIs(t, err, errShape)
	_, err = workers.Await[*workers.Stub](ctx, child)
	assert.ErrorIs(t, err, errShape)
	assert.Equal(t, before+1, nodeRuns.Load(), "only Fail ran: nothing ran on the result that never existed")

	_, err = workers.Call[int](ctx, workers.Pipe(ctx, b, "Nope"), "Depth")
	assert.ErrorIs(t, err, workers.ErrMethodNotFound)
	_, err = workers.Await[int](ctx, workers.Pipe(ctx, b, "Broken"))
	assert.ErrorIs(t, err, errShape)
}

func TestPipeOnAPlainResult(t *testing.T) {
	b := nodeBinding(t)
	_, err := workers.Call[int](t.Context(), workers.Pipe(t.Context(), b, "Number"), "Depth")
	require.ErrorIs(t, err, workers.ErrMethodNotFound)
	assert.Contains(t, err.Error(), "the result is a int, not an RpcTarget")
}

func TestPipeContext(t *testing.T) {
	b := nodeBinding(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := workers.Call[int](t.Context(), workers.Pipe(ctx, b, "Root"), "Depth")
	assert.ErrorIs(t, err, context.Canceled, "a canceled Pipe fails the chain with the ctx's error")
}

func TestPipeRelease(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	before := makerDisposed.Load()
	piped := workers.Pipe(ctx, b, "MakeCounter", 1)
	n, err := workers.Call[int](ctx, piped, "Increment", 1)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, piped.Close())
	assert.Equal(t, before+1, makerDisposed.Load(), "closing the piped stub releases the result")
	_, err = piped.Call(ctx, "Increment", 1)
	assert.ErrorIs(t, err, workers.ErrDisposed)
	_, err = workers.Await[*workers.Stub](ctx, piped)
	assert.ErrorIs(t, err, workers.ErrDisposed)
}

func TestAwaitOnAPlainStub(t *testing.T) {
	_, b := makerRegistry(t)
	ctx := t.Context()
	s, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 1)
	require.NoError(t, err)
	defer s.Close()
	same, err := workers.Await[*workers.Stub](ctx, s)
	require.NoError(t, err)
	assert.Same(t, s, same)
	_, err = workers.Await[int](ctx, s)
	assert.True(t, errors.Is(err, workers.ErrInvalidResult))
}
