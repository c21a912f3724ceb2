package remote

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type budgetPoint struct {
	X, Y int
	Tags []string
	Next *budgetPoint `cbor:"next,omitempty"`
}

type budgetBig struct {
	Name string
	Pad  [512]byte
}

type budgetEmbedded struct {
	budgetPoint
	Extra map[string]int `json:"extra"`
}

// The sizer's reckoning is an estimate from above of what decoding
// allocates: measured over many decodes, decoding never takes more.
func TestSizerBoundsWhatDecodingAllocates(t *testing.T) {
	many := func(n int, f func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name  string
		value any
		into  reflect.Type
	}{
		{"ints into []int", many(100000, func(i int) any { return i }), reflect.TypeFor[[]int]()},
		{"small ints into any", many(100000, func(i int) any { return i % 10 }), anyType},
		{"big ints into any", many(100000, func(i int) any { return int64(i) << 40 }), anyType},
		{"negative ints into any", many(100000, func(i int) any { return -i - 1000 }), anyType},
		{"nulls into any", many(100000, func(int) any { return nil }), anyType},
		{"nulls into []*budgetBig", many(10000, func(int) any { return nil }), reflect.TypeFor[[]*budgetBig]()},
		{"empty maps into []*budgetBig", many(10000, func(int) any { return map[string]any{} }), reflect.TypeFor[[]*budgetBig]()},
		{"empty maps into []budgetBig", many(10000, func(int) any { return map[string]any{} }), reflect.TypeFor[[]budgetBig]()},
		{"floats into any", many(100000, func(i int) any { return float64(i) + 0.5 }), anyType},
		{"strings into []string", many(100000, func(i int) any { return fmt.Sprint("s", i) }), reflect.TypeFor[[]string]()},
		{"strings into any", many(100000, func(i int) any { return fmt.Sprint("s", i) }), anyType},
		{"empty strings into []string", many(100000, func(int) any { return "" }), reflect.TypeFor[[]string]()},
		{"bytes into [][]byte", many(10000, func(i int) any { return []byte(strings.Repeat("x", i%100)) }), reflect.TypeFor[[][]byte]()},
		{"bytes into any", many(10000, func(i int) any { return []byte(strings.Repeat("x", i%100)) }), anyType},
		{"times into any", many(10000, func(i int) any { return time.Unix(int64(i), 5).UTC() }), anyType},
		{"nested arrays into any", many(10000, func(i int) any { return []any{[]any{i}, []any{}} }), anyType},
		{"maps into any", many(10000, func(i int) any { return map[string]any{"a": i, "bb": "c"} }), anyType},
		{"a map into map[string]int", func() any {
			m := map[string]int{}
			for i := range 100000 {
				m[fmt.Sprint("k", i)] = i
			}
			return m
		}(), reflect.TypeFor[map[string]int]()},
		{"a map into any", func() any {
			m := map[string]any{}
			for i := range 100000 {
				m[fmt.Sprint("k", i)] = i
			}
			return m
		}(), anyType},
		{"points into []budgetPoint", many(10000, func(i int) any { return budgetPoint{X: i, Tags: []string{"a", "b"}} }), reflect.TypeFor[[]budgetPoint]()},
		{"points case-insensitively", many(10000, func(i int) any {
			return map[string]any{"x": i, "tags": []string{"a", "b"}, "NEXT": map[string]any{"Y": 1}}
		}), reflect.TypeFor[[]budgetPoint]()},
		{"embedded fields", many(10000, func(i int) any { return map[string]any{"X": i, "extra": map[string]int{"a": 1}} }), reflect.TypeFor[[]budgetEmbedded]()},
		{"a linked list", func() any {
			var p *budgetPoint
			for i := range 400 {
				p = &budgetPoint{X: i, Next: p}
			}
			return p
		}(), reflect.TypeFor[*budgetPoint]()},
		{"big structs into []*budgetBig", many(1000, func(i int) any { return &budgetBig{Name: "n"} }), reflect.TypeFor[[]*budgetBig]()},
		{"an array of arrays into [][4]int", many(10000, func(i int) any { return []int{1, 2, 3, 4, 5} }), reflect.TypeFor[[][4]int]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := encMode.Marshal(tt.value)
			require.NoError(t, err)
			s := &sizer{data: raw, limit: math.MaxInt64}
			end, err := s.walk(0, tt.into, 0)
			require.NoError(t, err)
			require.Equal(t, len(raw), end)
			reckoned := s.total + decoderCost + alloc(int64(tt.into.Size())) // as decodeWithin adds

			const runs = 3
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			for range runs {
				_, err := decodeInto(raw, tt.into, "")
				require.NoError(t, err)
			}
			runtime.ReadMemStats(&m1)
			measured := int64(m1.TotalAlloc-m0.TotalAlloc) / runs
			t.Logf("%s: %d bytes: reckoned %d, decoding allocated %d (%.2f)", tt.name, len(raw), reckoned, measured, float64(reckoned)/float64(measured))
			assert.GreaterOrEqual(t, reckoned, measured, "the reckoning is under what decoding allocates")
		})
	}
}

// The sizer and the array splitter follow indefinite lengths and every
// kind of item as the decoder does.
func TestSizerWalksEveryItem(t *testing.T) {
	items := [][]byte{
		{0x9f, 0x01, 0x9f, 0x02, 0xff, 0xff},                   // nested indefinite arrays
		{0xbf, 0x61, 'a', 0x01, 0xff},                          // an indefinite map
		{0x5f, 0x41, 'a', 0x42, 'b', 'c', 0xff},                // an indefinite byte string
		{0x7f, 0x61, 'a', 0xff},                                // an indefinite text string
		{0xc1, 0x1a, 0x00, 0x01, 0x00, 0x00},                   // a tagged time
		{0xf9, 0x3c, 0x00},                                     // a half float
		{0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0},                   // a double
		{0xf8, 0x20},                                           // a simple value
		{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // a bignum's worth of negative
	}
	for _, raw := range items {
		require.NoError(t, decMode.Wellformed(raw), "%x", raw)
		s := &sizer{data: raw, limit: math.MaxInt64}
		end, err := s.walk(0, anyType, 0)
		require.NoError(t, err, "%x", raw)
		assert.Equal(t, len(raw), end, "%x", raw)
	}
	arr := []byte{0x9f}
	for _, raw := range items {
		arr = append(arr, raw...)
	}
	arr = append(arr, 0xff)
	parts, err := splitArray(arr)
	require.NoError(t, err)
	require.Len(t, parts, len(items))
	for i, p := range parts {
		assert.Equal(t, items[i], []byte(p))
	}
	n, err := arrayLen(append([]byte{0x9f}, append(make([]byte, maxArgs+10), 0xff)...), maxArgs)
	require.NoError(t, err)
	assert.Equal(t, maxArgs+1, n, "counting stops past the limit")
}
