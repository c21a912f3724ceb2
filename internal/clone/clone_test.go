package clone_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/clone"
)

type point struct{ X, Y int }

type inner struct {
	Items []int
	Tags  map[string]string
}

type outer struct {
	Name   string
	In     inner
	P      *point
	Arr    [2][]int
	Any    any
	Fn     func() int
	hidden []int // unexported: travels shallowly
}

type withChan struct {
	Name string
	C    chan int
}

type ref struct{ N []int }

type node struct {
	Val  int
	Next *node
}

func TestCopyValues(t *testing.T) {
	c := clone.New()
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"int", 42},
		{"float", 1.5},
		{"string", "text"},
		{"bool", true},
		{"time", time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)},
		{"slice", []int{1, 2, 3}},
		{"nil slice", []int(nil)},
		{"empty slice", []string{}},
		{"bytes", []byte("data")},
		{"map", map[string]int{"a": 1}},
		{"nil map", map[string]int(nil)},
		{"nested any", map[string]any{"a": []any{1.0, "x", map[string]any{"b": nil}}}},
		{"pointer", &point{1, 2}},
		{"nil pointer", (*point)(nil)},
		{"struct", point{1, 2}},
		{"array", [3]int{1, 2, 3}},
		{"array of slices", [2][]int{{1}, {2}}},
		{"deep struct", outer{Name: "n", In: inner{Items: []int{1}, Tags: map[string]string{"t": "v"}}, P: &point{3, 4},
			Arr: [2][]int{{5}, nil}, Any: []any{"x"}}},
		{"pointer to pointer", func() **point { p := &point{1, 1}; return &p }()},
		{"slice of pointers", []*point{{1, 1}, nil, {2, 2}}},
		{"map of slices", map[string][]int{"a": {1}, "b": nil}},
		{"nil chan in struct", withChan{Name: "x"}},
		{"nil chan", (chan int)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Copy(tc.v)
			require.NoError(t, err)
			assert.Equal(t, tc.v, got)
			if tc.v != nil {
				assert.Equal(t, reflect.TypeOf(tc.v), reflect.TypeOf(got), "the copy keeps the type")
			}

			rv, err := c.CopyValue(reflect.ValueOf(tc.v))
			if tc.v == nil {
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.v, rv.Interface())
		})
	}
}

func TestCopyDoesNotAlias(t *testing.T) {
	c := clone.New()
	hidden := []int{7}
	orig := outer{
		Name: "n",
		In:   inner{Items: []int{1, 2}, Tags: map[string]string{"t": "v"}},
		P:    &point{3, 4},
		Arr:  [2][]int{{5}, {6}},
		Any:  map[string]any{"list": []any{"a"}},
		Fn:   func() int { return 1 },

		hidden: hidden,
	}
	v, err := c.Copy(orig)
	require.NoError(t, err)
	cp := v.(outer)

	cp.In.Items[0] = 99
	cp.In.Tags["t"] = "changed"
	cp.P.X = 99
	cp.Arr[0][0] = 99
	cp.Any.(map[string]any)["list"].([]any)[0] = "changed"
	cp.Any.(map[string]any)["new"] = 1

	assert.Equal(t, []int{1, 2}, orig.In.Items)
	assert.Equal(t, map[string]string{"t": "v"}, orig.In.Tags)
	assert.Equal(t, &point{3, 4}, orig.P)
	assert.Equal(t, [2][]int{{5}, {6}}, orig.Arr)
	assert.Equal(t, map[string]any{"list": []any{"a"}}, orig.Any)

	assert.Equal(t, reflect.ValueOf(orig.Fn).Pointer(), reflect.ValueOf(cp.Fn).Pointer(), "funcs pass by reference")
	assert.Equal(t, 1, cp.Fn())
	assert.Same(t, &orig.hidden[0], &cp.hidden[0], "unexported fields travel as they are")
}

func TestCopyReferences(t *testing.T) {
	r := &ref{N: []int{1}}
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	c := clone.New(reflect.TypeFor[*ref](), reflect.TypeFor[context.Context]())

	got, err := c.Copy(r)
	require.NoError(t, err)
	assert.Same(t, r, got, "a registered type passes by reference")

	got, err = c.Copy(ctx)
	require.NoError(t, err)
	assert.True(t, got == any(ctx), "an implementation of a registered interface passes by reference")

	got, err = c.Copy(map[string]any{"r": r, "ctx": ctx, "n": []int{1}})
	require.NoError(t, err)
	m := got.(map[string]any)
	assert.Same(t, r, m["r"])
	assert.True(t, m["ctx"] == any(ctx))

	got, err = c.Copy(struct {
		R *ref
		S []int
	}{r, []int{1}})
	require.NoError(t, err)
	assert.Same(t, r, got.(struct {
		R *ref
		S []int
	}).R)

	// Without registration, the same value is copied.
	got, err = clone.New().Copy(r)
	require.NoError(t, err)
	assert.NotSame(t, r, got)
	assert.Equal(t, r, got)
}

type ctxKey struct{}

func TestCopyRefuses(t *testing.T) {
	c := clone.New()
	tests := []struct {
		name string
		v    any
		path string
		typ  reflect.Type
	}{
		{"chan", make(chan int), "", reflect.TypeFor[chan int]()},
		{"unsafe pointer", unsafe.Pointer(new(int)), "", reflect.TypeFor[unsafe.Pointer]()},
		{"chan field", withChan{C: make(chan int)}, ".C", reflect.TypeFor[chan int]()},
		{"chan in slice", []any{1, 2, make(chan string)}, "[2]", reflect.TypeFor[chan string]()},
		{"chan in map", map[string]any{"k": make(chan int)}, "[k]", reflect.TypeFor[chan int]()},
		{"chan behind pointer", &withChan{C: make(chan int)}, "*.C", reflect.TypeFor[chan int]()},
		{"deep", outer{Any: []any{map[string]any{"c": make(<-chan int)}}}, ".Any[0][c]", reflect.TypeFor[<-chan int]()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Copy(tc.v)
			require.Error(t, err)
			assert.Nil(t, got)
			var ce *clone.Error
			require.True(t, errors.As(err, &ce), "%T", err)
			assert.Equal(t, tc.path, ce.Path)
			assert.Equal(t, tc.typ, ce.Type)
			assert.Contains(t, err.Error(), tc.typ.String())
			assert.Contains(t, err.Error(), "cannot be copied")
		})
	}
}

func TestNeedsCopy(t *testing.T) {
	c := clone.New(reflect.TypeFor[*ref]())
	tests := []struct {
		typ       reflect.Type
		needs, ok bool
	}{
		{reflect.TypeFor[int](), false, true},
		{reflect.TypeFor[string](), false, true},
		{reflect.TypeFor[point](), false, true},
		{reflect.TypeFor[[4]float64](), false, true},
		{reflect.TypeFor[func()](), false, true},
		{reflect.TypeFor[[2]func()](), false, true},
		{reflect.TypeFor[*ref](), false, true},
		{reflect.TypeFor[[]int](), true, true},
		{reflect.TypeFor[map[string]int](), true, true},
		{reflect.TypeFor[*point](), true, true},
		{reflect.TypeFor[any](), true, true},
		{reflect.TypeFor[outer](), true, true},
		{reflect.TypeFor[[2][]int](), true, true},
		{reflect.TypeFor[chan int](), false, false},
		{reflect.TypeFor[unsafe.Pointer](), false, false},
		{reflect.TypeFor[withChan](), false, false},
		{reflect.TypeFor[[1]chan int](), false, false},
		{reflect.TypeFor[[0]chan int](), false, true},
		{reflect.TypeFor[struct{ c chan int }](), false, true}, // unexported: never reached
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			needs, ok := c.NeedsCopy(tc.typ)
			assert.Equal(t, tc.needs, needs, "needs")
			assert.Equal(t, tc.ok, ok, "ok")
		})
	}
}

func TestCopyCycles(t *testing.T) {
	c := clone.New()

	a := &node{Val: 1}
	a.Next = &node{Val: 2, Next: &node{Val: 3, Next: a}}
	got, err := c.Copy(a)
	require.NoError(t, err)
	r := got.(*node)
	assert.NotSame(t, a, r)
	assert.Same(t, r, r.Next.Next.Next)
	assert.Equal(t, []int{1, 2, 3}, []int{r.Val, r.Next.Val, r.Next.Next.Val})

	m := map[string]any{"v": 1}
	m["self"] = m
	got, err = c.Copy(m)
	require.NoError(t, err)
	cm := got.(map[string]any)
	assert.Equal(t, reflect.ValueOf(cm).UnsafePointer(), reflect.ValueOf(cm["self"]).UnsafePointer())
	assert.NotEqual(t, reflect.ValueOf(m).UnsafePointer(), reflect.ValueOf(cm).UnsafePointer())

	s := make([]any, 2)
	s[0], s[1] = 1, s
	got, err = c.Copy(s)
	require.NoError(t, err)
	cs := got.([]any)
	assert.Same(t, &cs[0], &cs[1].([]any)[0])
	assert.NotSame(t, &s[0], &cs[0])

	type selfAny struct{ Self any }
	sa := &selfAny{}
	sa.Self = sa
	got, err = c.Copy(sa)
	require.NoError(t, err)
	csa := got.(*selfAny)
	assert.Same(t, csa, csa.Self)
	assert.NotSame(t, sa, csa)
}

func TestCopySharedPointers(t *testing.T) {
	c := clone.New()
	p := &point{1, 2}
	list := []int{1, 2, 3}
	type pair struct {
		A, B *point
		L, M []int
	}
	got, err := c.Copy(pair{A: p, B: p, L: list, M: list})
	require.NoError(t, err)
	cp := got.(pair)
	assert.Same(t, cp.A, cp.B, "shared pointers stay shared")
	assert.NotSame(t, p, cp.A)
	assert.Same(t, &cp.L[0], &cp.M[0], "shared slices stay shared")
	assert.NotSame(t, &list[0], &cp.L[0])

	got, err = c.Copy([]*point{p, p, {}})
	require.NoError(t, err)
	ps := got.([]*point)
	assert.Same(t, ps[0], ps[1])
	assert.NotSame(t, ps[0], ps[2])
}

func TestConvert(t *testing.T) {
	type celsius float64
	type ids []int
	tests := []struct {
		name string
		arg  any
		to   reflect.Type
		want any    // nil with err
		err  string // "" for success
	}{
		{"same", 1, reflect.TypeFor[int](), 1, ""},
		{"int to int64", 21, reflect.TypeFor[int64](), int64(21), ""},
		{"int to float64", 21, reflect.TypeFor[float64](), 21.0, ""},
		{"int to named float", 21, reflect.TypeFor[celsius](), celsius(21), ""},
		{"float to int", 2.0, reflect.TypeFor[int](), 2, ""},
		{"fraction to int", 1.5, reflect.TypeFor[int](), nil, "cannot use 1.5 (float64) as int: not exactly representable"},
		{"overflow int8", 300, reflect.TypeFor[int8](), nil, "cannot use 300 (int) as int8: not exactly representable"},
		{"negative uint", -1, reflect.TypeFor[uint](), nil, "not exactly representable"},
		{"2^53+1 to float64", int64(1<<53 + 1), reflect.TypeFor[float64](), nil, "not exactly representable"},
		{"2^53 to float64", int64(1 << 53), reflect.TypeFor[float64](), float64(1 << 53), ""},
		{"max uint64 to float64", uint64(math.MaxUint64), reflect.TypeFor[float64](), nil, "not exactly representable"},
		{"max uint64 to int64", uint64(math.MaxUint64), reflect.TypeFor[int64](), nil, "not exactly representable"},
		{"max int64 to uint64", int64(math.MaxInt64), reflect.TypeFor[uint64](), uint64(math.MaxInt64), ""},
		{"min int64 to float64", int64(math.MinInt64), reflect.TypeFor[float64](), -0x1p63, ""},
		{"2^63 to int64", 0x1p63, reflect.TypeFor[int64](), nil, "not exactly representable"},
		{"2^64 to uint64", 0x1p64, reflect.TypeFor[uint64](), nil, "not exactly representable"},
		{"2^64-2048 to uint64", 0x1p64 - 2048, reflect.TypeFor[uint64](), uint64(1<<64 - 2048), ""},
		{"0.1 to float32", 0.1, reflect.TypeFor[float32](), nil, "not exactly representable"},
		{"NaN to float32", math.NaN(), reflect.TypeFor[float32](), nil, ""}, // checked below
		{"Inf to float32", math.Inf(-1), reflect.TypeFor[float32](), float32(math.Inf(-1)), ""},
		{"Inf to int", math.Inf(1), reflect.TypeFor[int](), nil, "not exactly representable"},
		{"NaN to int", math.NaN(), reflect.TypeFor[int](), nil, "not exactly representable"},
		{"2^24+1 to float32", 1<<24 + 1, reflect.TypeFor[float32](), nil, "not exactly representable"},
		{"float32 to float64", float32(0.1), reflect.TypeFor[float64](), float64(float32(0.1)), ""},
		{"uintptr to int", uintptr(5), reflect.TypeFor[int](), 5, ""},
		{"assignable slice", []int{1}, reflect.TypeFor[ids](), []int{1}, ""},
		{"assignable to any", []int{1}, reflect.TypeFor[any](), []int{1}, ""},
		{"nil to pointer", nil, reflect.TypeFor[*point](), (*point)(nil), ""},
		{"nil to any", nil, reflect.TypeFor[any](), nil, ""},
		{"nil to chan", nil, reflect.TypeFor[chan int](), (chan int)(nil), ""},
		{"nil to map", nil, reflect.TypeFor[map[string]int](), map[string]int(nil), ""},
		{"nil to int", nil, reflect.TypeFor[int](), nil, "cannot use nil as int"},
		{"nil to struct", nil, reflect.TypeFor[point](), nil, "cannot use nil as clone_test.point"},
		{"string to int", "1", reflect.TypeFor[int](), nil, "cannot use string as int"},
		{"int to string", 65, reflect.TypeFor[string](), nil, "cannot use int as string"},
		{"bool to int", true, reflect.TypeFor[int](), nil, "cannot use bool as int"},
		{"complex to float", complex(1, 0), reflect.TypeFor[float64](), nil, "cannot use complex128 as float64"},
		{"[]int64 to []int", []int64{1}, reflect.TypeFor[[]int](), nil, "cannot use []int64 as []int"},
		{"pointer to value", &point{}, reflect.TypeFor[point](), nil, "cannot use *clone_test.point as clone_test.point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v reflect.Value
			var err error
			require.NotPanics(t, func() { v, err = clone.Convert(tc.arg, tc.to) })
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			require.True(t, v.IsValid())
			assert.True(t, v.Type().AssignableTo(tc.to), "%s is not assignable to %s", v.Type(), tc.to)
			if f, ok := tc.arg.(float64); ok && math.IsNaN(f) {
				assert.True(t, math.IsNaN(v.Float()))
				return
			}
			assert.Equal(t, tc.want, v.Interface())
		})
	}
}

func TestConvertFunc(t *testing.T) {
	v, err := clone.Convert(nil, reflect.TypeFor[func()]())
	require.NoError(t, err)
	assert.True(t, v.IsNil())

	called := false
	f := func() { called = true }
	v, err = clone.Convert(f, reflect.TypeFor[func()]())
	require.NoError(t, err)
	v.Interface().(func())()
	assert.True(t, called, "a func converts as itself")
}

func TestNilable(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[*int](), true},
		{reflect.TypeFor[[]int](), true},
		{reflect.TypeFor[map[int]int](), true},
		{reflect.TypeFor[any](), true},
		{reflect.TypeFor[error](), true},
		{reflect.TypeFor[func()](), true},
		{reflect.TypeFor[chan int](), true},
		{reflect.TypeFor[unsafe.Pointer](), true},
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[string](), false},
		{reflect.TypeFor[point](), false},
		{reflect.TypeFor[[1]int](), false},
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, clone.Nilable(tc.typ))
		})
	}
}
