package clone_test

import (
	"reflect"
	"runtime/debug"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/clone"
)

// swappedRef stands for the runtime's RpcTargets and stubs: it crosses by
// reference, whatever it holds.
type swappedRef struct {
	C      chan int
	secret []byte
}

type secretive struct {
	Name string
	db   []byte
}

// open is outer without its unexported field.
type open struct {
	Name string
	In   inner
	P    *point
	Arr  [2][]int
	Any  any
}

type withAny struct {
	Name string
	Any  any
}

// strictCopier is the runtime's copier: strict, with a swapped type.
func strictCopier() *clone.Copier {
	return clone.New(reflect.TypeFor[func()]()).Strict().Swapping(func(t reflect.Type) bool {
		return t == reflect.TypeFor[*swappedRef]()
	})
}

// keep is the swap function a check stands for.
func keep(v reflect.Value) (reflect.Value, error) { return v, nil }

// checkCases are values Check must judge as a copy with keep does: the
// refused ones and the accepted ones, at the top and nested.
func checkCases() []struct {
	name string
	v    any
	ok   bool
} {
	cyclic := &node{Val: 1}
	cyclic.Next = cyclic
	shared := &withChan{Name: "s"}
	many := make([]*withChan, 20) // more references than a check remembers without a map
	for i := range many {
		many[i] = &withChan{}
	}
	many = append(many, many[3], &withChan{C: make(chan int)})
	var nilChan chan int
	return []struct {
		name string
		v    any
		ok   bool
	}{
		{"int", 1, true},
		{"string slice", []string{"a"}, true},
		{"nested", open{Name: "o", In: inner{Items: []int{1}, Tags: map[string]string{"k": "v"}}, P: &point{1, 2}, Any: []any{1, "x"}}, true},
		{"nil chan", withChan{C: nilChan}, true},
		{"nil chan in any", []any{nilChan}, true},
		{"time", time.Now(), true},
		{"time behind pointer in map", map[string]*time.Time{"t": new(time.Time)}, true},
		{"swapped, with a chan inside", &swappedRef{C: make(chan int), secret: []byte("x")}, true},
		{"swapped in any", []any{&swappedRef{C: make(chan int)}}, true},
		{"cycle", cyclic, true},
		{"shared", []*withChan{shared, shared, shared}, true},
		{"func", withAny{Any: func() {}}, true},
		{"many references", many[:20], true},
		{"chan", make(chan int), false},
		{"unsafe pointer", unsafe.Pointer(new(int)), false},
		{"chan field", withChan{C: make(chan int)}, false},
		{"chan in slice", []any{1, 2, make(chan string)}, false},
		{"chan in map", map[string]any{"k": make(chan int)}, false},
		{"chan in map key", map[any]int{make(chan int): 1}, false},
		{"chan behind pointer", &withChan{C: make(chan int)}, false},
		{"chan in array", [2]any{1, make(chan int)}, false},
		{"deep", open{Any: []any{map[string]any{"c": make(<-chan int)}}}, false},
		{"unexported data", secretive{Name: "s", db: []byte("password")}, false},
		{"unexported data in any", withAny{Any: []any{&secretive{}}}, false},
		{"unexported data behind pointer", &outer{}, false},
		{"after many references", many, false},
	}
}

func TestCheckAgreesWithCopy(t *testing.T) {
	c := strictCopier()
	for _, walking := range []bool{false, true} {
		for _, tc := range checkCases() {
			t.Run(tc.name, func(t *testing.T) {
				if walking {
					defer clone.SetRecurseLimit(0)()
				}
				v := reflect.ValueOf(tc.v)
				_, copyErr := c.CopyValueSwap(v, keep)
				err := c.Check(v)
				require.Equal(t, tc.ok, copyErr == nil, "the copy's verdict: %v", copyErr)
				if tc.ok {
					assert.NoError(t, err)
					return
				}
				require.Error(t, err)
				assert.Equal(t, copyErr.Error(), err.Error(), "the copy's message")
				var ce *clone.Error
				assert.ErrorAs(t, err, &ce)
			})
		}
	}
}

// A check follows a value as deep as a copy does, and names the same path.
func TestCheckDeep(t *testing.T) {
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
	c := strictCopier()
	_, copyErr := c.Copy(head)
	require.Error(t, copyErr)
	err := c.Check(reflect.ValueOf(head))
	require.Error(t, err)
	assert.Equal(t, copyErr.Error(), err.Error())

	head.C = nil
	for p := head; p != nil; p = p.Next {
		p.C = nil
	}
	assert.NoError(t, c.Check(reflect.ValueOf(head)))
}

// What a remote call checks most (a struct with a slice and a pointer, a
// slice of them) costs no allocation.
func TestCheckAllocations(t *testing.T) {
	c := strictCopier()
	for _, v := range []any{
		open{Name: "o", In: inner{Items: []int{1}}, P: &point{1, 2}, Any: []any{1, "x", &point{}}},
		[]*point{{1, 2}, {3, 4}},
		&node{Val: 1, Next: &node{Val: 2}},
	} {
		rv := reflect.ValueOf(v)
		require.NoError(t, c.Check(rv))
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = c.Check(rv) }), "%T", v)
	}
}

// FuzzCheck builds a value from the fuzz bytes, with every kind a copy
// follows and every kind it refuses (channels, unexported data), cycles,
// shared references and swapped references, and checks that Check and a
// copy with keep give the same verdict, recursing and walking. (Their
// messages can differ when a map holds two refused values: map order is
// random.)
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x02\x03\x00\x01\x05", "\x03\x02\x04\x0b\x07", "\x08\x09\x0a\x0c\x06", "\x04\x04\x04\x0b\x0b\x05"} {
		f.Add([]byte(seed))
	}
	c := strictCopier()
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &builder{data: data}
		v := b.build(0)
		for _, walking := range []bool{false, true} {
			restore := func() {}
			if walking {
				restore = clone.SetRecurseLimit(0)
			}
			rv := reflect.ValueOf(v)
			_, copyErr := c.CopyValueSwap(rv, keep)
			err := c.Check(rv)
			restore()
			require.Equal(t, copyErr == nil, err == nil, "copy: %v; check: %v", copyErr, err)
		}
	})
}

type builder struct {
	data []byte
	ptrs []*any // for cycles and shared references
}

func (b *builder) next() byte {
	if len(b.data) == 0 {
		return 0
	}
	c := b.data[0]
	b.data = b.data[1:]
	return c
}

func (b *builder) build(depth int) any {
	if depth > 20 {
		return 1
	}
	switch op := b.next(); op % 14 {
	case 0:
		return int(op)
	case 1:
		return "s"
	case 2:
		n := int(b.next() % 4)
		xs := make([]any, n)
		for i := range xs {
			xs[i] = b.build(depth + 1)
		}
		return xs
	case 3:
		m := map[string]any{}
		for i := range int(b.next() % 3) {
			m[string(rune('a'+i))] = b.build(depth + 1)
		}
		return m
	case 4:
		p := new(any)
		b.ptrs = append(b.ptrs, p)
		*p = b.build(depth + 1)
		return p
	case 5:
		return make(chan int)
	case 6:
		var c chan int
		return c
	case 7:
		return secretive{Name: "x", db: []byte{op}}
	case 8:
		return withAny{Name: "w", Any: b.build(depth + 1)}
	case 9:
		return time.Unix(int64(op), 0)
	case 10:
		return &swappedRef{C: make(chan int)}
	case 11:
		if len(b.ptrs) > 0 {
			return b.ptrs[int(b.next())%len(b.ptrs)]
		}
		return nil
	case 12:
		return [2]any{b.build(depth + 1), b.build(depth + 1)}
	default:
		return &withChan{Name: "c"}
	}
}

// BenchmarkCheck compares what a remote call's argument check did before
// Check (a copy whose swap function keeps references, thrown away) with
// Check, on a payload of about 1 KiB with references, as bench.Payload.
func BenchmarkCheck(b *testing.B) {
	type payload struct {
		ID     int
		Name   string
		Tags   []string
		Values []float64
		Next   *payload
		Any    any
	}
	p := &payload{ID: 1, Name: "p", Tags: []string{"a", "b", "c"}, Values: make([]float64, 100),
		Next: &payload{Name: "next", Any: []any{1, "two", map[string]int{"three": 3}}}}
	v := reflect.ValueOf(p)
	c := strictCopier()
	b.Run("copy_keep", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.CopyValueSwap(v, keep); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Check(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
