package clone_test

import (
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/clone"
)

// TestCopyByWalking runs the copy tests with the recursion limit at 0, 1
// and 2: everything, or all but the first levels, copied by the walk that
// copies deep values, and the hand-over between the two at every depth.
func TestCopyByWalking(t *testing.T) {
	for _, limit := range []int{0, 1, 2} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			defer clone.SetRecurseLimit(limit)()
			for name, test := range map[string]func(*testing.T){
				"Values":         TestCopyValues,
				"DoesNotAlias":   TestCopyDoesNotAlias,
				"References":     TestCopyReferences,
				"Refuses":        TestCopyRefuses,
				"Cycles":         TestCopyCycles,
				"SharedPointers": TestCopySharedPointers,
				"MapKeys":        TestCopyMapKeys,
			} {
				t.Run(name, test)
			}
		})
	}
}

type keyed struct {
	P *point
	S string
}

// TestCopyMapKeys copies maps whose keys need a copy of their own.
func TestCopyMapKeys(t *testing.T) {
	c := clone.New()
	p := &point{1, 2}
	m := map[keyed][]int{{P: p, S: "a"}: {1}, {S: "b"}: nil}
	got, err := c.Copy(m)
	require.NoError(t, err)
	cm := got.(map[keyed][]int)
	require.Len(t, cm, 2)
	for k, v := range cm {
		if k.S == "a" {
			assert.NotSame(t, p, k.P, "a pointer in a key is copied")
			assert.Equal(t, *p, *k.P)
			assert.Equal(t, []int{1}, v)
		} else {
			assert.Nil(t, k.P)
			assert.Nil(t, v)
		}
	}

	ak := map[any]any{point{1, 2}: []int{3}, "s": "t"}
	got, err = c.Copy(ak)
	require.NoError(t, err)
	assert.Equal(t, ak, got)
}

// boxed nests values by value: an interface holding a struct holding an
// interface, with no pointer between the levels.
type boxed struct{ In any }

// TestCopyDeep copies values far deeper than the goroutine's stack could
// recurse through: a list of 200,000 nodes through pointers, slices, maps,
// interfaces and structs held by value, and a ring of as many. The stack
// is limited to 16 MiB meanwhile, so that a copy that recursed with the
// depth would crash the test.
func TestCopyDeep(t *testing.T) {
	const n = 200_000
	defer debug.SetMaxStack(debug.SetMaxStack(16 << 20))
	c := clone.New()

	t.Run("list", func(t *testing.T) {
		var head *node
		for i := range n {
			head = &node{Val: i, Next: head}
		}
		got, err := c.Copy(head)
		require.NoError(t, err)
		cp, same := got.(*node), 0
		for o := head; o != nil && cp != nil; o, cp = o.Next, cp.Next {
			if o == cp || o.Val != cp.Val {
				break
			}
			same++
		}
		assert.Equal(t, n, same, "nodes copied")
		assert.Nil(t, cp, "the copy is longer")
	})

	t.Run("ring", func(t *testing.T) {
		first := &node{Val: 0}
		last := first
		for i := 1; i < n; i++ {
			last.Next = &node{Val: i}
			last = last.Next
		}
		last.Next = first
		got, err := c.Copy(first)
		require.NoError(t, err)
		cp, o, same := got.(*node), first, 0
		for i := 0; i < n && cp != nil && cp != o && cp.Val == i; i++ {
			o, cp = o.Next, cp.Next
			same++
		}
		assert.Equal(t, n, same, "nodes copied")
		assert.Same(t, got.(*node), cp, "the ring is closed in the copy")
	})

	nested := map[string]func() (any, func(any) int){
		"slices": func() (any, func(any) int) {
			var v any = "leaf"
			for range n {
				v = []any{v}
			}
			return v, func(v any) int {
				d := 0
				for ; ; d++ {
					s, ok := v.([]any)
					if !ok {
						return d
					}
					v = s[0]
				}
			}
		},
		"maps": func() (any, func(any) int) {
			var v any = "leaf"
			for range n {
				v = map[string]any{"k": v}
			}
			return v, func(v any) int {
				d := 0
				for ; ; d++ {
					m, ok := v.(map[string]any)
					if !ok {
						return d
					}
					v = m["k"]
				}
			}
		},
		"structs in interfaces": func() (any, func(any) int) {
			var v any = "leaf"
			for range n {
				v = boxed{In: v}
			}
			return v, func(v any) int {
				d := 0
				for ; ; d++ {
					b, ok := v.(boxed)
					if !ok {
						return d
					}
					v = b.In
				}
			}
		},
	}
	for name, build := range nested {
		t.Run(name, func(t *testing.T) {
			v, depth := build()
			got, err := c.Copy(v)
			require.NoError(t, err)
			assert.Equal(t, n, depth(got))
		})
	}

	t.Run("long", func(t *testing.T) {
		long := make([]*point, n)
		for i := range long {
			long[i] = &point{i, -i}
		}
		got, err := c.Copy(long)
		require.NoError(t, err)
		cp := got.([]*point)
		require.Len(t, cp, len(long))
		assert.NotSame(t, long[n/2], cp[n/2])
		assert.Equal(t, long[n/2], cp[n/2])
	})
}

// TestCopyDeepRefuses finds a channel at the end of a 200,000-node list:
// the error says where, in a path of bounded length.
func TestCopyDeepRefuses(t *testing.T) {
	const n = 200_000
	defer debug.SetMaxStack(debug.SetMaxStack(16 << 20))
	type chained struct {
		Next *chained
		C    chan int
	}
	head := &chained{C: make(chan int)}
	for range n - 1 {
		head = &chained{Next: head}
	}
	_, err := clone.New().Copy(head)
	require.Error(t, err)
	var ce *clone.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, reflect.TypeFor[chan int](), ce.Type)
	assert.Less(t, len(ce.Path), 2048, "the path is cut short")
	assert.True(t, strings.HasPrefix(ce.Path, "*.Next*.Next*.Next"), "the path starts at the root: %s", ce.Path)
	assert.True(t, strings.HasSuffix(ce.Path, "*.Next*.Next*.C"), "the path ends at the channel: %s", ce.Path)
	assert.Contains(t, ce.Path, "...", "the path says it is cut")
}
