package workers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

func TestCall(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "calc")

	got, err := b.Call(t.Context(), "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, got)

	sum, err := workers.Call[int](t.Context(), b, "Add", 40, 2)
	require.NoError(t, err)
	assert.Equal(t, 42, sum)

	var nilCtx context.Context
	got, err = b.Call(nilCtx, "Add", 2, 2)
	require.NoError(t, err)
	assert.Equal(t, 4, got)
}

// results returns values of several types for Call[R].
type results struct{ workers.Entrypoint }

type intList []int

func (w *results) Int() int               { return 7 }
func (w *results) Big() int64             { return math.MaxInt64 }
func (w *results) Half() float64          { return 0.5 }
func (w *results) Str() string            { return "s" }
func (w *results) Nothing()               {}
func (w *results) NilAny() any            { return nil }
func (w *results) NilPtr() *point         { return nil }
func (w *results) List() []int            { return []int{1, 2} }
func (w *results) Error() (int, error)    { return 0, errShape }
func (w *results) Stringer() fmt.Stringer { return celsius(20) }

type celsius float64

func (c celsius) String() string { return fmt.Sprintf("%g°C", float64(c)) }

// callAs calls method through Call[R] and returns the result as any.
func callAs[R any](ctx context.Context, b *workers.Binding, method string) (any, error) {
	return workers.Call[R](ctx, b, method)
}

func TestCallTypedResult(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "results", workers.Worker{Default: workers.New[results]()})
	b := bind(reg, "results")
	tests := []struct {
		name   string
		call   func(context.Context, *workers.Binding, string) (any, error)
		method string
		want   any
		err    error
	}{
		{"int as int", callAs[int], "Int", 7, nil},
		{"int as int64", callAs[int64], "Int", int64(7), nil},
		{"int as float64", callAs[float64], "Int", 7.0, nil},
		{"int as uint8", callAs[uint8], "Int", uint8(7), nil},
		{"int as any", callAs[any], "Int", 7, nil},
		{"int as string", callAs[string], "Int", "", workers.ErrInvalidResult},
		{"max int64 as int8", callAs[int8], "Big", int8(0), workers.ErrInvalidResult},
		{"max int64 as float64", callAs[float64], "Big", 0.0, workers.ErrInvalidResult},
		{"half as float32", callAs[float32], "Half", float32(0.5), nil},
		{"half as int", callAs[int], "Half", 0, workers.ErrInvalidResult},
		{"string as string", callAs[string], "Str", "s", nil},
		{"nothing as any", callAs[any], "Nothing", nil, nil},
		{"nothing as error", callAs[error], "Nothing", error(nil), nil},
		{"nothing as pointer", callAs[*point], "Nothing", (*point)(nil), nil},
		{"nothing as int", callAs[int], "Nothing", 0, workers.ErrInvalidResult},
		{"nil any as any", callAs[any], "NilAny", nil, nil},
		{"nil any as map", callAs[map[string]int], "NilAny", map[string]int(nil), nil},
		{"nil pointer", callAs[*point], "NilPtr", (*point)(nil), nil},
		{"slice as named slice", callAs[intList], "List", intList{1, 2}, nil},
		{"slice as any", callAs[any], "List", []int{1, 2}, nil},
		{"stringer as stringer", callAs[fmt.Stringer], "Stringer", fmt.Stringer(celsius(20)), nil},
		{"stringer as celsius", callAs[celsius], "Stringer", celsius(20), nil},
		{"error", callAs[int], "Error", 0, errShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			var err error
			require.NotPanics(t, func() { got, err = tc.call(t.Context(), b, tc.method) })
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCallInvalidResultMessage(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "results", workers.Worker{Default: workers.New[results]()})
	_, err := workers.Call[string](t.Context(), bind(reg, "results"), "Int")
	require.ErrorIs(t, err, workers.ErrInvalidResult)
	assert.Contains(t, err.Error(), `"results"`)
	assert.Contains(t, err.Error(), `"Int"`)
	assert.Contains(t, err.Error(), "int")
	assert.Contains(t, err.Error(), "string")
}

// Arguments.

type point struct{ X, Y int }

type args struct{ workers.Entrypoint }

func (w *args) I64(x int64) int64                  { return x }
func (w *args) Int(x int) int                      { return x }
func (w *args) I8(x int8) int8                     { return x }
func (w *args) U(x uint) uint                      { return x }
func (w *args) U8(x uint8) uint8                   { return x }
func (w *args) F64(x float64) float64              { return x }
func (w *args) F32(x float32) float32              { return x }
func (w *args) Temp(c celsius) celsius             { return c }
func (w *args) Str(s string) string                { return s }
func (w *args) Bool(b bool) bool                   { return b }
func (w *args) Ptr(p *point) bool                  { return p == nil }
func (w *args) Pt(p point) int                     { return p.X + p.Y }
func (w *args) Slice(s []int) int                  { return len(s) }
func (w *args) Map(m map[string]int) int           { return len(m) }
func (w *args) Any(v any) string                   { return fmt.Sprintf("%T", v) }
func (w *args) Func(f func() int) bool             { return f == nil }
func (w *args) Err(err error) bool                 { return err == nil }
func (w *args) Stringer(s fmt.Stringer) string     { return s.String() }
func (w *args) Pair(a int, b string) string        { return fmt.Sprintf("%d %s", a, b) }
func (w *args) Rest(a int, rest ...float32) int    { return a + len(rest) }
func (w *args) Bytes(b []byte) int                 { return len(b) }
func (w *args) Text(b []byte) (string, error)      { return string(b), nil }
func (w *args) Ctx(ctx context.Context, a int) int { return a }

func TestArguments(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "args", workers.Worker{Default: workers.New[args]()})
	b := bind(reg, "args")
	tests := []struct {
		method string
		args   []any
		want   any
		errs   []string // the error message holds each; nil for success
	}{
		// exact numeric conversion
		{"I64", []any{21}, int64(21), nil},
		{"I64", []any{int8(-3)}, int64(-3), nil},
		{"I64", []any{uint64(math.MaxInt64)}, int64(math.MaxInt64), nil},
		{"I64", []any{uint64(math.MaxInt64) + 1}, nil, []string{"argument 0", "uint64", "int64"}},
		{"I64", []any{21.0}, int64(21), nil},
		{"I64", []any{0x1p63}, nil, []string{"argument 0", "float64", "int64"}},
		{"I64", []any{-0x1p63}, int64(math.MinInt64), nil},
		{"Int", []any{1.5}, nil, []string{"argument 0", "float64", "int", "1.5"}},
		{"Int", []any{2.0}, 2, nil},
		{"Int", []any{math.NaN()}, nil, []string{"argument 0", "float64", "int"}},
		{"Int", []any{math.Inf(1)}, nil, []string{"argument 0", "float64", "int"}},
		{"Int", []any{float32(-4)}, -4, nil},
		{"I8", []any{300}, nil, []string{"argument 0", "int", "int8", "300"}},
		{"I8", []any{-128}, int8(-128), nil},
		{"I8", []any{-129}, nil, []string{"argument 0", "int8"}},
		{"I8", []any{uint(127)}, int8(127), nil},
		{"U", []any{-1}, nil, []string{"argument 0", "int", "uint"}},
		{"U", []any{-1.0}, nil, []string{"argument 0", "float64", "uint"}},
		{"U", []any{3}, uint(3), nil},
		{"U8", []any{256}, nil, []string{"argument 0", "uint8"}},
		{"U8", []any{255.0}, uint8(255), nil},
		{"F64", []any{int64(1<<53 + 1)}, nil, []string{"argument 0", "int64", "float64"}},
		{"F64", []any{int64(1 << 53)}, float64(1 << 53), nil},
		{"F64", []any{uint64(math.MaxUint64)}, nil, []string{"argument 0", "uint64", "float64"}},
		{"F64", []any{int64(math.MaxInt64)}, nil, []string{"argument 0", "int64", "float64"}},
		{"F64", []any{float32(0.1)}, float64(float32(0.1)), nil},
		{"F32", []any{0.1}, nil, []string{"argument 0", "float64", "float32"}},
		{"F32", []any{0.5}, float32(0.5), nil},
		{"F32", []any{1e300}, nil, []string{"argument 0", "float32"}},
		{"F32", []any{1<<24 + 1}, nil, []string{"argument 0", "int", "float32"}},
		{"F32", []any{1 << 24}, float32(1 << 24), nil},
		{"Temp", []any{21}, celsius(21), nil},
		{"Temp", []any{21.5}, celsius(21.5), nil},
		{"Temp", []any{celsius(3)}, celsius(3), nil},
		// assignability and other types; []byte has a fast path
		{"Bytes", []any{[]byte("abc")}, 3, nil},
		{"Bytes", []any{json.RawMessage(`{"a":1}`)}, 7, nil},
		{"Text", []any{json.RawMessage(`{"a":1}`)}, `{"a":1}`, nil},
		{"Bytes", []any{nil}, 0, nil},
		{"Bytes", []any{"abc"}, nil, []string{"argument 0", "string", "[]uint8"}},
		{"Str", []any{"x"}, "x", nil},
		{"Str", []any{5}, nil, []string{"argument 0", "int", "string"}},
		{"Str", []any{[]byte("x")}, nil, []string{"argument 0", "[]uint8", "string"}},
		{"Int", []any{"5"}, nil, []string{"argument 0", "string", "int"}},
		{"Bool", []any{1}, nil, []string{"argument 0", "int", "bool"}},
		{"Pt", []any{point{1, 2}}, 3, nil},
		{"Pt", []any{&point{1, 2}}, nil, []string{"argument 0", "*workers_test.point", "workers_test.point"}},
		{"Ptr", []any{point{}}, nil, []string{"argument 0", "workers_test.point", "*workers_test.point"}},
		{"Slice", []any{intList{1, 2, 3}}, 3, nil},
		{"Slice", []any{[]int64{1}}, nil, []string{"argument 0", "[]int64", "[]int"}},
		{"Slice", []any{[]any{1}}, nil, []string{"argument 0", "[]interface {}", "[]int"}},
		{"Map", []any{map[string]int{"a": 1}}, 1, nil},
		{"Map", []any{map[string]any{"a": 1}}, nil, []string{"argument 0", "map[string]interface {}", "map[string]int"}},
		{"Any", []any{1}, "int", nil},
		{"Any", []any{point{}}, "workers_test.point", nil},
		{"Stringer", []any{celsius(1)}, "1°C", nil},
		{"Stringer", []any{1.0}, nil, []string{"argument 0", "float64", "fmt.Stringer"}},
		// nil only where nilable
		{"Ptr", []any{nil}, true, nil},
		{"Slice", []any{nil}, 0, nil},
		{"Map", []any{nil}, 0, nil},
		{"Any", []any{nil}, "<nil>", nil},
		{"Func", []any{nil}, true, nil},
		{"Err", []any{nil}, true, nil},
		{"Int", []any{nil}, nil, []string{"argument 0", "nil", "int"}},
		{"Str", []any{nil}, nil, []string{"argument 0", "nil", "string"}},
		{"Pt", []any{nil}, nil, []string{"argument 0", "nil", "workers_test.point"}},
		// counts and positions
		{"Pair", []any{1, "a"}, "1 a", nil},
		{"Pair", []any{1}, nil, []string{"got 1 arguments, want 2", "Pair(int, string)"}},
		{"Pair", nil, nil, []string{"got 0 arguments, want 2"}},
		{"Pair", []any{1, "a", "b"}, nil, []string{"got 3 arguments, want 2"}},
		{"Pair", []any{1, 2}, nil, []string{"argument 1", "int", "string"}},
		{"Pair", []any{"1", "2"}, nil, []string{"argument 0", "string", "int"}},
		{"Rest", []any{1}, 1, nil},
		{"Rest", []any{1, 0.5, 2}, 3, nil},
		{"Rest", []any{1, 0.5, 0.1}, nil, []string{"argument 2", "float64", "float32"}},
		{"Rest", nil, nil, []string{"got 0 arguments, want at least 1"}},
		{"Ctx", []any{1}, 1, nil},
		{"Ctx", []any{context.Background(), 1}, nil, []string{"got 2 arguments, want 1"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%v", tc.method, tc.args), func(t *testing.T) {
			var got any
			var err error
			require.NotPanics(t, func() { got, err = b.Call(t.Context(), tc.method, tc.args...) })
			if tc.errs == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			require.ErrorIs(t, err, workers.ErrInvalidArgument)
			assert.Nil(t, got)
			for _, s := range tc.errs {
				assert.Contains(t, err.Error(), s)
			}
			assert.Contains(t, err.Error(), `"args"`, "names the service")
			assert.Contains(t, err.Error(), tc.method, "names the method")
		})
	}
}

// Copy semantics.

type bag struct {
	Items []int
	Tags  map[string]string
	P     *point
	Any   any
}

type node struct {
	Val  int
	Next *node
}

type pair struct{ A, B *point }

type store struct {
	items []int
	doc   map[string]any
}

type copier struct{ workers.Entrypoint }

func (w *copier) Mutate(s []int, m map[string]int, p *point, b bag, arr [2][]int) {
	s[0] = 99
	m["k"] = 99
	m["new"] = 1
	p.X = 99
	b.Items[0] = 99
	b.Tags["t"] = "changed"
	b.P.Y = 99
	b.Any.(map[string]any)["x"] = "changed"
	arr[0][0] = 99
}

// Scribble has a shape with a fast path: the copy must still happen.
func (w *copier) Scribble(b []byte) []byte {
	for i := range b {
		b[i] = 'x'
	}
	return b
}

func (w *copier) Items() []int {
	s, _ := workers.Get[*store](w.Env, "STORE")
	return s.items
}

func (w *copier) Doc() map[string]any {
	s, _ := workers.Get[*store](w.Env, "STORE")
	return s.doc
}

func (w *copier) Each(n int, f func(int)) {
	for i := range n {
		f(i)
	}
}

func (w *copier) Same(b *workers.Binding) *workers.Binding { return b }

func (w *copier) Via(b *workers.Binding) (int, error) {
	return workers.Call[int](w.Ctx, b, "Add", 1, 2)
}

func (w *copier) KeepCtx(_ int, c context.Context) context.Context { return c }

func (w *copier) Chan(c chan int) {}

func (w *copier) Unsafe(p unsafe.Pointer) {}

func (w *copier) Any(v any) any { return v }

func (w *copier) MakeChan() chan int { return make(chan int) }

func (w *copier) Holder() struct{ C chan int } { return struct{ C chan int }{make(chan int)} }

func (w *copier) RingLen(n *node) int {
	count := 1
	for p := n.Next; p != n; p = p.Next {
		if p == nil || count > 100 {
			return -1
		}
		count++
	}
	return count
}

func (w *copier) Echo(n *node) *node { return n }

func (w *copier) SelfMap(m map[string]any) bool {
	inner, ok := m["self"].(map[string]any)
	return ok && reflect.ValueOf(inner).UnsafePointer() == reflect.ValueOf(m).UnsafePointer()
}

func (w *copier) Shared(p pair) bool {
	same := p.A == p.B
	p.A.X = 99
	return same
}

func newCopier(t *testing.T) (*workers.Binding, *store) {
	t.Helper()
	st := &store{items: []int{1, 2, 3}, doc: map[string]any{"list": []any{"a"}}}
	reg := newRegistry(t)
	register(t, reg, "copier", workers.Worker{
		Default:  workers.New[copier](),
		Bindings: map[string]any{"STORE": st},
	})
	return bind(reg, "copier"), st
}

func TestCopyArguments(t *testing.T) {
	b, _ := newCopier(t)
	s := []int{1, 2}
	m := map[string]int{"k": 1}
	p := &point{X: 1, Y: 2}
	bg := bag{Items: []int{1}, Tags: map[string]string{"t": "orig"}, P: &point{1, 2}, Any: map[string]any{"x": "orig"}}
	arr := [2][]int{{1}, {2}}

	_, err := b.Call(t.Context(), "Mutate", s, m, p, bg, arr)
	require.NoError(t, err)

	assert.Equal(t, []int{1, 2}, s)
	assert.Equal(t, map[string]int{"k": 1}, m)
	assert.Equal(t, &point{X: 1, Y: 2}, p)
	assert.Equal(t, []int{1}, bg.Items)
	assert.Equal(t, map[string]string{"t": "orig"}, bg.Tags)
	assert.Equal(t, &point{1, 2}, bg.P)
	assert.Equal(t, map[string]any{"x": "orig"}, bg.Any)
	assert.Equal(t, [2][]int{{1}, {2}}, arr)
}

func TestCopyFastPath(t *testing.T) {
	b, _ := newCopier(t)
	for _, arg := range []any{[]byte("abc"), json.RawMessage(`"abc"`)} {
		got, err := workers.Call[[]byte](t.Context(), b, "Scribble", arg)
		require.NoError(t, err)
		assert.Equal(t, bytes.Repeat([]byte("x"), len(got)), got)
		assert.NotContains(t, fmt.Sprint(arg), "x", "the callee changed the caller's bytes")
		require.Len(t, got, reflect.ValueOf(arg).Len())
	}
}

func TestCopyResults(t *testing.T) {
	b, st := newCopier(t)

	items, err := workers.Call[[]int](t.Context(), b, "Items")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, items)
	items[0] = 99
	assert.Equal(t, []int{1, 2, 3}, st.items, "the caller changed the callee's slice")

	doc, err := workers.Call[map[string]any](t.Context(), b, "Doc")
	require.NoError(t, err)
	doc["added"] = true
	doc["list"].([]any)[0] = "changed"
	assert.Equal(t, map[string]any{"list": []any{"a"}}, st.doc, "the caller changed the callee's map")

	again, err := workers.Call[[]int](t.Context(), b, "Items")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, again)
}

func TestCopyByReference(t *testing.T) {
	b, _ := newCopier(t)

	var seen []int
	_, err := b.Call(t.Context(), "Each", 3, func(i int) { seen = append(seen, i) })
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2}, seen, "the callback runs on the caller's closure")

	calcB := b // any binding will do for identity
	got, err := b.Call(t.Context(), "Same", calcB)
	require.NoError(t, err)
	assert.Same(t, calcB, got, "a *Binding crosses by reference")

	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	sum, err := workers.Call[int](t.Context(), b, "Via", bind(reg, "calc"))
	require.NoError(t, err)
	assert.Equal(t, 3, sum, "the callee can call through a Binding it was given")

	ctx := context.WithValue(t.Context(), ctxKey("k"), "v")
	gotCtx, err := b.Call(t.Context(), "KeepCtx", 0, ctx)
	require.NoError(t, err)
	assert.True(t, gotCtx == any(ctx), "a context.Context crosses by reference")
}

func TestCopyRefusesChannelsAndUnsafe(t *testing.T) {
	b, _ := newCopier(t)
	tests := []struct {
		name   string
		method string
		args   []any
		errs   []string
	}{
		{"chan param", "Chan", []any{make(chan int)}, []string{"argument 0", "chan int"}},
		{"chan in any", "Any", []any{make(chan string)}, []string{"argument 0", "chan string"}},
		{"chan in a map", "Any", []any{map[string]any{"c": make(chan int)}}, []string{"argument 0", "chan int"}},
		{"chan in a struct", "Any", []any{struct{ C chan int }{make(chan int)}}, []string{"argument 0", "chan int"}},
		{"unsafe pointer", "Unsafe", []any{unsafe.Pointer(new(int))}, []string{"argument 0", "unsafe.Pointer"}},
		{"unsafe pointer in any", "Any", []any{[]any{1, unsafe.Pointer(new(int))}}, []string{"argument 0", "unsafe.Pointer"}},
		{"chan result", "MakeChan", nil, []string{"result", "chan int"}},
		{"chan in a result", "Holder", nil, []string{"result", "chan int"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = b.Call(t.Context(), tc.method, tc.args...) })
			require.ErrorIs(t, err, workers.ErrInvalidArgument)
			for _, s := range tc.errs {
				assert.Contains(t, err.Error(), s)
			}
		})
	}

	// A nil channel carries nothing and may cross.
	_, err := b.Call(t.Context(), "Chan", nil)
	assert.NoError(t, err)
	_, err = b.Call(t.Context(), "Chan", (chan int)(nil))
	assert.NoError(t, err)
}

func TestCopyCycles(t *testing.T) {
	b, _ := newCopier(t)

	// a -> b -> c -> a
	a := &node{Val: 1}
	a.Next = &node{Val: 2, Next: &node{Val: 3, Next: a}}
	n, err := workers.Call[int](t.Context(), b, "RingLen", a)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the cycle keeps its shape on the callee's side")

	r, err := workers.Call[*node](t.Context(), b, "Echo", a)
	require.NoError(t, err)
	require.NotNil(t, r)
	assert.NotSame(t, a, r)
	assert.NotSame(t, a.Next, r.Next)
	assert.Equal(t, []int{1, 2, 3}, []int{r.Val, r.Next.Val, r.Next.Next.Val})
	assert.Same(t, r, r.Next.Next.Next, "the cycle keeps its shape on the caller's side")

	self := &node{Val: 7}
	self.Next = self
	r, err = workers.Call[*node](t.Context(), b, "Echo", self)
	require.NoError(t, err)
	assert.Same(t, r, r.Next)
	assert.NotSame(t, self, r)

	m := map[string]any{"v": 1}
	m["self"] = m
	ok, err := workers.Call[bool](t.Context(), b, "SelfMap", m)
	require.NoError(t, err)
	assert.True(t, ok, "a map containing itself stays so")

	got, err := workers.Call[map[string]any](t.Context(), b, "Any", m)
	require.NoError(t, err)
	inner, isMap := got["self"].(map[string]any)
	require.True(t, isMap)
	assert.Equal(t, reflect.ValueOf(got).UnsafePointer(), reflect.ValueOf(inner).UnsafePointer())
	assert.NotEqual(t, reflect.ValueOf(m).UnsafePointer(), reflect.ValueOf(got).UnsafePointer())

	s := make([]any, 2)
	s[0], s[1] = "x", s
	gotS, err := workers.Call[[]any](t.Context(), b, "Any", s)
	require.NoError(t, err)
	require.Len(t, gotS, 2)
	innerS, isSlice := gotS[1].([]any)
	require.True(t, isSlice)
	assert.Same(t, &gotS[0], &innerS[0])
	assert.NotSame(t, &s[0], &gotS[0])
}

func TestCopySharedPointers(t *testing.T) {
	b, _ := newCopier(t)
	p := &point{X: 1}
	same, err := workers.Call[bool](t.Context(), b, "Shared", pair{A: p, B: p})
	require.NoError(t, err)
	assert.True(t, same, "a pointer shared within one value stays shared")
	assert.Equal(t, 1, p.X)

	same, err = workers.Call[bool](t.Context(), b, "Shared", pair{A: &point{}, B: &point{}})
	require.NoError(t, err)
	assert.False(t, same)
}

// Errors and panics.

var errSentinel = errors.New("sentinel")

type codeError struct{ Code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.Code) }

type failing struct{ workers.Entrypoint }

func (w *failing) Sentinel() error       { return errSentinel }
func (w *failing) Wrapped() (int, error) { return 0, fmt.Errorf("while adding: %w", errSentinel) }
func (w *failing) Custom() error         { return &codeError{Code: 42} }
func (w *failing) WrappedCustom() (any, error) {
	return nil, fmt.Errorf("outer: %w", &codeError{Code: 7})
}
func (w *failing) Joined() error { return errors.Join(io.EOF, &codeError{Code: 9}) }
func (w *failing) Panic() int    { panic("kaboom") }
func (w *failing) PanicErr()     { panic(fmt.Errorf("reading: %w", io.ErrUnexpectedEOF)) }
func (w *failing) Nested(ctx context.Context) error {
	_, err := w.Env.Service("SELF").Call(ctx, "Custom")
	return err
}

func TestErrorIdentity(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "failing", workers.Worker{
		Default:  workers.New[failing](),
		Services: []workers.Service{{Binding: "SELF", Service: "failing"}},
	})
	b := bind(reg, "failing")
	tests := []struct {
		method string
		is     error
		code   int // the *codeError errors.As finds; 0 for none
	}{
		{"Sentinel", errSentinel, 0},
		{"Wrapped", errSentinel, 0},
		{"Custom", nil, 42},
		{"WrappedCustom", nil, 7},
		{"Joined", io.EOF, 9},
		{"Nested", nil, 42},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			got, err := b.Call(t.Context(), tc.method)
			require.Error(t, err)
			assert.Nil(t, got)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			var ce *codeError
			if tc.code != 0 {
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tc.code, ce.Code)
			} else {
				assert.NotErrorAs(t, err, &ce)
			}
		})
	}
}

func TestPanic(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "failing", workers.Worker{Default: workers.New[failing]()})
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "failing")

	got, err := b.Call(t.Context(), "Panic")
	assert.Nil(t, got)
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "kaboom", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	assert.Contains(t, string(pe.Stack), "Panic", "the stack is the callee's")
	assert.Contains(t, err.Error(), "kaboom")
	assert.Contains(t, err.Error(), `"failing"`)

	_, err = b.Call(t.Context(), "PanicErr")
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a panic with an error unwraps to it")

	// The registry keeps working.
	for range 3 {
		sum, err := workers.Call[int](t.Context(), bind(reg, "calc"), "Add", 1, 1)
		require.NoError(t, err)
		assert.Equal(t, 2, sum)
		_, err = b.Call(t.Context(), "Sentinel")
		assert.ErrorIs(t, err, errSentinel)
	}
}

func TestPanicInConstructor(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "ctor", workers.Worker{
		Default: workers.NewFunc(func() *calc { panic("no instance today") }),
	})
	var err error
	require.NotPanics(t, func() { _, err = bind(reg, "ctor").Call(t.Context(), "Add", 1, 2) })
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "no instance today", pe.Value)
	assert.NotEmpty(t, pe.Stack)
}

func TestConstructorReturningNil(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "nilctor", workers.Worker{Default: workers.NewFunc(func() *calc { return nil })})
	_, err := bind(reg, "nilctor").Call(t.Context(), "Add", 1, 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "returned nil")
}

// Context before the call.

type counted struct{ workers.Entrypoint }

func (w *counted) Run(ctx context.Context) error {
	n, _ := workers.Get[*atomic.Int64](w.Env, "COUNT")
	n.Add(1)
	return ctx.Err()
}

func TestCanceledContextSkipsTheMethod(t *testing.T) {
	var n atomic.Int64
	reg := newRegistry(t)
	register(t, reg, "counted", workers.Worker{
		Default:  workers.New[counted](),
		Bindings: map[string]any{"COUNT": &n},
	})
	b := bind(reg, "counted")

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := b.Call(canceled, "Run")
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), `"counted"`)
	assert.Contains(t, err.Error(), `"Run"`)

	expired, cancel2 := context.WithTimeout(t.Context(), 0)
	defer cancel2()
	<-expired.Done()
	_, err = b.Call(expired, "Run")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = workers.Call[int](canceled, b, "Run")
	require.ErrorIs(t, err, context.Canceled)

	assert.Zero(t, n.Load(), "the method ran with a done context")

	_, err = b.Call(t.Context(), "Run")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n.Load())
}

// Depth.

type recurser struct{ workers.Entrypoint }

// Down calls itself through its own Env, passing the ctx it was given.
func (w *recurser) Down(ctx context.Context) error {
	w.count()
	_, err := w.Env.Service("SELF").Call(ctx, "Down")
	return err
}

// DownCtx does the same with w.Ctx.
func (w *recurser) DownCtx() error {
	w.count()
	_, err := workers.Call[any](w.Ctx, w.Env.Service("SELF"), "DownCtx")
	return err
}

// DownDerived passes on a context derived from w.Ctx, in which the depth
// must be found among the values.
func (w *recurser) DownDerived() error {
	w.count()
	ctx, cancel := context.WithTimeout(w.Ctx, time.Minute)
	defer cancel()
	_, err := workers.Call[any](context.WithValue(ctx, struct{}{}, 1), w.Env.Service("SELF"), "DownDerived")
	return err
}

func (w *recurser) count() {
	n, _ := workers.Get[*atomic.Int64](w.Env, "COUNT")
	n.Add(1)
	depth, _ := workers.Get[*atomic.Int64](w.Env, "DEPTH")
	if d := int64(w.Ctx.Depth()); d > depth.Load() {
		depth.Store(d)
	}
}

func TestDepthLimit(t *testing.T) {
	tests := []struct {
		name   string
		opts   []workers.Option
		method string
		want   int64
		root   context.Context // the first call's; t.Context() when nil
	}{
		{"ctx parameter", nil, "Down", workers.DefaultMaxDepth, nil},
		{"w.Ctx", nil, "DownCtx", 32, nil},
		{"derived from w.Ctx", nil, "DownDerived", 32, nil},
		{"from Background", nil, "DownCtx", 32, context.Background()},
		{"from TODO", nil, "DownDerived", 32, context.TODO()},
		{"WithMaxDepth", []workers.Option{workers.WithMaxDepth(5)}, "Down", 5, nil},
		{"WithMaxDepth w.Ctx", []workers.Option{workers.WithMaxDepth(3)}, "DownCtx", 3, nil},
		{"WithMaxDepth 1", []workers.Option{workers.WithMaxDepth(1)}, "Down", 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n, depth atomic.Int64
			reg := newRegistry(t, tc.opts...)
			register(t, reg, "loop", workers.Worker{
				Default:  workers.New[recurser](),
				Services: []workers.Service{{Binding: "SELF", Service: "loop"}},
				Bindings: map[string]any{"COUNT": &n, "DEPTH": &depth},
			})
			root := tc.root
			if root == nil {
				root = t.Context()
			}
			_, err := bind(reg, "loop").Call(root, tc.method)
			require.ErrorIs(t, err, workers.ErrDepthExceeded)
			assert.Contains(t, err.Error(), "Subrequest depth limit exceeded")
			assert.Equal(t, tc.want, n.Load(), "invocations that ran")
			assert.Equal(t, tc.want, depth.Load(), "deepest Ctx.Depth")
		})
	}
}

// Concurrency.

func TestConcurrentCalls(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	b := bind(reg, "calc")
	const goroutines, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				sum, err := workers.Call[int](context.Background(), b, "Add", g, i)
				if err == nil && sum != g+i {
					err = fmt.Errorf("Add(%d, %d) = %d", g, i, sum)
				}
				if err != nil {
					errs <- err
				}
				hits, err := workers.Call[int](context.Background(), b, "Hit")
				if err == nil && hits != 1 {
					err = fmt.Errorf("Hit = %d on a fresh instance", hits)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestConcurrentRegisterBindAndCall(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	const goroutines = 8
	var wg sync.WaitGroup
	errs := make(chan error, 4*goroutines*20)
	for g := range goroutines {
		wg.Go(func() { // registers its own workers and calls them at once
			for i := range 20 {
				name := fmt.Sprintf("w%d-%d", g, i)
				if err := reg.Register(name, workers.Worker{
					Default:  workers.New[calc](),
					Services: []workers.Service{{Binding: "CALC", Service: "calc"}},
				}); err != nil {
					errs <- err
					continue
				}
				if sum, err := workers.Call[int](context.Background(), bind(reg, name), "Add", g, i); err != nil || sum != g+i {
					errs <- fmt.Errorf("%s: Add = %d, %v", name, sum, err)
				}
			}
		})
		wg.Go(func() { // binds fresh and calls the shared worker
			for i := range 20 {
				if sum, err := workers.Call[int](context.Background(), bind(reg, "calc"), "Add", i, g); err != nil || sum != g+i {
					errs <- fmt.Errorf("calc: Add = %d, %v", sum, err)
				}
			}
		})
		wg.Go(func() { // validates while workers come and go
			for range 20 {
				if err := reg.Validate(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// scalars returns 8-byte scalars, which the runtime boxes into shared
// blocks instead of one allocation each; others are boxed as usual.
type scalars struct{ workers.Entrypoint }

func (w *scalars) Int(n int) int                { return n * 3 }
func (w *scalars) Int64(n int64) int64          { return -n }
func (w *scalars) Float(x float64) float64      { return x / 4 }
func (w *scalars) Checked(n int) (int, error)   { return n + 1, nil }
func (w *scalars) Small(n int) int32            { return int32(n) }
func (w *scalars) Celsius(x float64) celsiusArg { return celsiusArg(x) }

type celsiusArg float64

func TestScalarResults(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, "scalars", workers.Worker{Default: workers.New[scalars]()})
	b := bind(reg, "scalars")
	const goroutines, calls = 8, 300 // several blocks of cells on every shard
	kept := make([][]any, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				n := g*calls + i + 1000
				for _, c := range []struct {
					method string
					arg    any
					want   any
				}{
					{"Int", n, n * 3},
					{"Int64", int64(n), int64(-n)},
					{"Float", float64(n), float64(n) / 4},
					{"Checked", n, n + 1},
					{"Small", n, int32(n)},
					{"Celsius", float64(n), celsiusArg(n)},
				} {
					got, err := b.Call(context.Background(), c.method, c.arg)
					if !assert.NoError(t, err) || !assert.Equal(t, c.want, got, "%s(%v)", c.method, c.arg) {
						return
					}
					if i%50 == 0 {
						kept[g] = append(kept[g], got)
					}
				}
			}
		})
	}
	wg.Wait()
	runtime.GC()
	runtime.GC()
	for g, vs := range kept {
		for j := 0; j < len(vs); j += 6 {
			n := g*calls + j/6*50 + 1000
			assert.Equal(t, []any{n * 3, int64(-n), float64(n) / 4, n + 1, int32(n), celsiusArg(n)}, vs[j:j+6],
				"results kept across collections")
		}
	}
}
