package workers_test

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// listNode is one node of a singly linked list; C, when set, cannot cross.
type listNode struct {
	Val  int
	Next *listNode
	C    chan int
}

// longList returns a list of n nodes, 0 first; ring closes it.
func longList(n int, ring bool) *listNode {
	head := &listNode{Val: n - 1}
	last := head
	for i := n - 2; i >= 0; i-- {
		head = &listNode{Val: i, Next: head}
	}
	if ring {
		last.Next = head
	}
	return head
}

type lister struct{ workers.Entrypoint }

// Len counts the nodes of a list, checking that each is where it should be.
func (w *lister) Len(head *listNode) int {
	n := 0
	for ; head != nil; head = head.Next {
		if head.Val != n {
			return -1
		}
		n++
	}
	return n
}

// Ring reports whether following the list n times leads back to its head.
func (w *lister) Ring(head *listNode, n int) bool {
	p := head
	for range n {
		p = p.Next
	}
	return p == head
}

// Echo returns the list: the result is copied too.
func (w *lister) Echo(head *listNode) *listNode { return head }

// Depth counts how deep v nests []any.
func (w *lister) Depth(v any) int {
	d := 0
	for {
		s, ok := v.([]any)
		if !ok || len(s) == 0 {
			return d
		}
		v, d = s[0], d+1
	}
}

// PropsLen counts the nodes of the list in the caller's props.
func (w *lister) PropsLen() int {
	head, _ := w.Ctx.Props().(*listNode)
	return w.Len(head)
}

// TestCallWithDeepArguments passes a list of 400,000 nodes, and values
// 100,000 levels deep, as arguments, props and results: the copy works, or
// fails with ErrInvalidArgument naming the argument, and the process
// survives. The goroutines' stacks are limited to 64 MiB meanwhile, so
// that a copy that recursed with the depth would crash the test.
func TestCallWithDeepArguments(t *testing.T) {
	const n, deep = 400_000, 100_000
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	reg := newRegistry(t)
	register(t, reg, "lister", workers.Worker{Default: workers.New[lister]()})
	b := bind(reg, "lister")
	ctx := t.Context()

	t.Run("list", func(t *testing.T) {
		got, err := workers.Call[int](ctx, b, "Len", longList(n, false))
		require.NoError(t, err)
		assert.Equal(t, n, got)
	})
	t.Run("ring", func(t *testing.T) {
		got, err := workers.Call[bool](ctx, b, "Ring", longList(n, true), n)
		require.NoError(t, err)
		assert.True(t, got, "the cycle is kept in the copy")
	})
	t.Run("result", func(t *testing.T) {
		list := longList(deep, false)
		got, err := workers.Call[*listNode](ctx, b, "Echo", list)
		require.NoError(t, err)
		assert.NotSame(t, list, got, "the result is a copy")
		assert.Equal(t, deep, (&lister{}).Len(got))
	})
	t.Run("nested any", func(t *testing.T) {
		var v any = "leaf"
		for range deep {
			v = []any{v}
		}
		got, err := workers.Call[int](ctx, b, "Depth", v)
		require.NoError(t, err)
		assert.Equal(t, deep, got)
	})
	t.Run("props", func(t *testing.T) {
		pb := reg.Bind(workers.Service{Service: "lister", Props: longList(deep, false)})
		got, err := workers.Call[int](ctx, pb, "PropsLen")
		require.NoError(t, err)
		assert.Equal(t, deep, got)
	})
	t.Run("refused deep inside", func(t *testing.T) {
		list := longList(n, false)
		last := list
		for last.Next != nil {
			last = last.Next
		}
		last.C = make(chan int)
		_, err := b.Call(ctx, "Len", list)
		require.ErrorIs(t, err, workers.ErrInvalidArgument)
		assert.ErrorContains(t, err, "argument 0")
		assert.ErrorContains(t, err, "chan int")
		assert.Less(t, len(err.Error()), 4096, "the error's path is cut short")
	})

	got, err := workers.Call[int](ctx, b, "Len", longList(3, false))
	require.NoError(t, err, "the registry keeps working")
	assert.Equal(t, 3, got)
}
