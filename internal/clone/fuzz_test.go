package clone_test

import (
	"encoding/json"
	"hash/crc32"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/clone"
)

// doc is a typed target for fuzzed JSON with every kind of reference the
// copier must follow.
type doc struct {
	Name string              `json:"name"`
	N    int                 `json:"n"`
	F    float64             `json:"f"`
	U    uint8               `json:"u"`
	Tags []string            `json:"tags"`
	M    map[string]int      `json:"m"`
	Kids []*doc              `json:"kids"`
	Any  any                 `json:"any"`
	Ptr  *doc                `json:"ptr"`
	Arr  [2][]int            `json:"arr"`
	B    []byte              `json:"b"`
	Nest map[string][]*doc   `json:"nest"`
	P    *point              `json:"p"`
	Anys map[string][]any    `json:"anys"`
	Grid [][]float64         `json:"grid"`
	Opt  **string            `json:"opt"`
	Deep map[string]*[]int64 `json:"deep"`
}

// FuzzCopy decodes fuzz bytes as JSON into any and into doc, copies the
// result, and checks that the copy equals the original, that changing every
// part of the copy leaves the original alone, and that cycles and shared
// pointers keep their shape. It does so with the copy recursing as usual
// and with it walking from the first level, and again for the value nested
// deeper than the copy recurses and repeated in a long list (see
// deepAndLong). The seeds under testdata include JSON thousands of levels
// deep and long.
func FuzzCopy(f *testing.F) {
	for _, seed := range []string{
		`null`, `1`, `"s"`, `[]`, `{}`, `[1,"a",null,true,{"k":[2.5]}]`,
		`{"name":"n","n":-3,"f":1.5,"u":200,"tags":["a","b"],"m":{"x":1},"any":{"a":[1,{"b":null}]}}`,
		`{"kids":[{"name":"k1"},null,{"kids":[{"n":2}]}],"ptr":{"ptr":{"name":"deep"}},"arr":[[1,2],[3]]}`,
		`{"b":"aGVsbG8=","nest":{"x":[{"n":1},null]},"p":{"X":1,"Y":2},"anys":{"q":[1,"2",[3]]}}`,
		`{"grid":[[1,2],[3.5]],"opt":"o","deep":{"d":[1,2,3],"e":null}}`,
	} {
		f.Add([]byte(seed))
	}
	c := clone.New()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCopy(t, c, data)
		deepAndLong(t, c, data)
		defer clone.SetRecurseLimit(0)()
		fuzzCopy(t, c, data)
		deepAndLong(t, c, data)
	})
}

func fuzzCopy(t *testing.T, c *clone.Copier, data []byte) {
	{
		var orig, want any
		if json.Unmarshal(data, &orig) == nil {
			require.NoError(t, json.Unmarshal(data, &want))
			got, err := c.Copy(orig)
			require.NoError(t, err)
			require.True(t, reflect.DeepEqual(want, got), "copy differs:\n%#v\n%#v", want, got)
			mutateAny(got)
			require.True(t, reflect.DeepEqual(want, orig), "changing the copy changed the original")
		}

		var d, dwant doc
		if json.Unmarshal(data, &d) != nil {
			return
		}
		require.NoError(t, json.Unmarshal(data, &dwant))
		got, err := c.Copy(&d)
		require.NoError(t, err)
		cp := got.(*doc)
		require.NotSame(t, &d, cp)
		require.True(t, reflect.DeepEqual(&dwant, cp), "copy differs:\n%#v\n%#v", &dwant, cp)
		mutateDoc(cp, map[*doc]bool{})
		require.True(t, reflect.DeepEqual(&dwant, &d), "changing the copy changed the original")

		// Now make the value cyclic and shared: d points to itself, its
		// first kid appears twice, and two fields share one slice.
		d.Ptr = &d
		d.Kids = append(d.Kids, &doc{Name: "shared"})
		d.Kids = append(d.Kids, d.Kids[0])
		d.Arr[1] = d.Arr[0]
		got, err = c.Copy(&d)
		require.NoError(t, err)
		cp = got.(*doc)
		assert.True(t, cp.Ptr == cp, "the cycle is kept")
		assert.True(t, cp != &d)
		require.Len(t, cp.Kids, len(d.Kids))
		assert.True(t, cp.Kids[0] == cp.Kids[len(cp.Kids)-1], "a shared pointer stays shared")
		if d.Kids[0] != nil {
			assert.True(t, cp.Kids[0] != d.Kids[0])
		}
		if len(d.Arr[0]) > 0 {
			assert.True(t, &cp.Arr[0][0] == &cp.Arr[1][0], "a shared slice stays shared")
			assert.True(t, &cp.Arr[0][0] != &d.Arr[0][0])
		}
		assert.True(t, reflect.DeepEqual(&d, cp))
	}
}

// deepAndLong nests the JSON value of data past the depth at which the
// copy stops recursing, through every kind of reference in turn (slice,
// map, struct by value in an interface, pointer), and repeats it in a long
// slice, so that one value is shared many times; the copy must equal it,
// share what it shares, and be independent of it.
func deepAndLong(t *testing.T, c *clone.Copier, data []byte) {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return
	}
	build := func() any {
		var leaf any
		require.NoError(t, json.Unmarshal(data, &leaf))
		n := 260 + int(crc32.ChecksumIEEE(data)%500)
		nested := leaf
		for i := range n {
			switch i % 4 {
			case 0:
				nested = []any{nested, i}
			case 1:
				nested = map[string]any{"k": nested}
			case 2:
				nested = box{In: nested}
			default:
				p := new(any)
				*p = nested
				nested = p
			}
		}
		long := make([]any, 300)
		for i := range long {
			long[i] = nested
		}
		return long
	}
	orig, want := build().([]any), build()
	got, err := c.Copy(orig)
	require.NoError(t, err)
	require.True(t, reflect.DeepEqual(want, got), "the deep copy differs")
	cp := got.([]any)
	if first, last := reflect.ValueOf(cp[0]), reflect.ValueOf(cp[len(cp)-1]); first.Kind() != reflect.Struct {
		assert.Equal(t, first.UnsafePointer(), last.UnsafePointer(), "a value shared in the original is shared in the copy")
		assert.NotEqual(t, reflect.ValueOf(orig[0]).UnsafePointer(), first.UnsafePointer())
	}
	mutateAny(cp[0])
	require.True(t, reflect.DeepEqual(want, orig), "changing the deep copy changed the original")
}

// box holds a value by value in an interface.
type box struct{ In any }

// mutateAny changes every map and slice reachable from v.
func mutateAny(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			mutateAny(e)
			v[k] = "mutated"
		}
		v["mutated"] = true
	case []any:
		for i, e := range v {
			mutateAny(e)
			v[i] = "mutated"
		}
	case box:
		mutateAny(v.In)
	case *any:
		mutateAny(*v)
		*v = "mutated"
	}
}

// mutateDoc changes every part of d that the copy could share.
func mutateDoc(d *doc, seen map[*doc]bool) {
	if d == nil || seen[d] {
		return
	}
	seen[d] = true
	d.Name += "!"
	d.N++
	for i := range d.Tags {
		d.Tags[i] = "mutated"
	}
	for k := range d.M {
		d.M[k]++
	}
	if d.M != nil {
		d.M["mutated"] = 1
	}
	for i, k := range d.Kids {
		mutateDoc(k, seen)
		d.Kids[i] = nil
	}
	mutateAny(d.Any)
	mutateDoc(d.Ptr, seen)
	for _, s := range d.Arr {
		for i := range s {
			s[i]++
		}
	}
	for i := range d.B {
		d.B[i]++
	}
	for k, kids := range d.Nest {
		for i, kid := range kids {
			mutateDoc(kid, seen)
			kids[i] = nil
		}
		d.Nest[k] = nil
	}
	if d.P != nil {
		d.P.X++
	}
	for k, list := range d.Anys {
		for i, e := range list {
			mutateAny(e)
			list[i] = "mutated"
		}
		d.Anys[k] = nil
	}
	for _, row := range d.Grid {
		for i := range row {
			row[i]++
		}
	}
	if d.Opt != nil && *d.Opt != nil {
		**d.Opt += "!"
		*d.Opt = nil
	}
	for _, p := range d.Deep {
		if p != nil {
			for i := range *p {
				(*p)[i]++
			}
			*p = append(*p, 1)
		}
	}
}

type small int8

type celsius float64

var numericTypes = []reflect.Type{
	reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
	reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
	reflect.TypeFor[uintptr](), reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	reflect.TypeFor[small](), reflect.TypeFor[celsius](),
}

// FuzzConvert converts random numbers of every numeric type to every numeric
// type and checks Convert against an exact oracle (math/big): it succeeds
// exactly when the value is representable, the result has the same value,
// and it converts back to the original.
func FuzzConvert(f *testing.F) {
	f.Add(int64(21), uint64(300), 1.5, uint32(0x3dcccccd))
	f.Add(int64(-1), uint64(math.MaxUint64), float64(1<<53+1), uint32(0x7f800000))
	f.Add(int64(math.MinInt64), uint64(1<<63), -0x1p63, uint32(0x80000000))
	f.Add(int64(math.MaxInt64), uint64(math.MaxInt64), 0x1p64, uint32(0x7fc00000))
	f.Add(int64(1<<53+1), uint64(1<<24+1), math.Inf(-1), uint32(1))
	f.Add(int64(-129), uint64(255), math.NaN(), uint32(0xff7fffff))
	f.Fuzz(func(t *testing.T, i int64, u uint64, fl float64, f32bits uint32) {
		sources := []any{
			i, u, fl, math.Float32frombits(f32bits),
			int8(i), int16(i), int32(i), int(i), uint8(u), uint16(u), uint32(u), uint(u), uintptr(u),
			small(i), celsius(fl),
		}
		for _, src := range sources {
			sv := reflect.ValueOf(src)
			for _, to := range numericTypes {
				out, err := clone.Convert(src, to) // a panic fails the fuzz run
				want := representable(sv, to)
				if !want {
					require.Error(t, err, "%v (%T) -> %s should fail", src, src, to)
					continue
				}
				require.NoError(t, err, "%v (%T) -> %s", src, src, to)
				require.True(t, out.Type().AssignableTo(to))
				require.True(t, sameNumber(sv, out), "%v (%T) -> %s gave %v", src, src, to, out)

				back, err := clone.Convert(out.Interface(), sv.Type())
				require.NoError(t, err, "%v (%s) back to %T", out, to, src)
				require.True(t, sameNumber(sv, back), "round trip of %v (%T) through %s gave %v", src, src, to, back)
			}
		}
	})
}

// exact returns v as an exact big.Float; nan reports a NaN, which has none.
func exact(v reflect.Value) (x *big.Float, nan bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return new(big.Float).SetInt64(v.Int()), false
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return new(big.Float).SetUint64(v.Uint()), false
	}
	f := v.Float()
	if math.IsNaN(f) {
		return nil, true
	}
	return new(big.Float).SetFloat64(f), false
}

func representable(v reflect.Value, to reflect.Type) bool {
	x, nan := exact(v)
	switch to.Kind() {
	case reflect.Float32:
		if nan {
			return true
		}
		_, acc := x.Float32()
		return acc == big.Exact
	case reflect.Float64:
		if nan {
			return true
		}
		_, acc := x.Float64()
		return acc == big.Exact
	}
	if nan || x.IsInf() || !x.IsInt() {
		return false
	}
	bits := to.Bits()
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, acc := x.Int64()
		return acc == big.Exact && n >= -1<<(bits-1) && n <= 1<<(bits-1)-1
	default:
		n, acc := x.Uint64()
		return acc == big.Exact && (bits == 64 || n < 1<<bits)
	}
}

func sameNumber(a, b reflect.Value) bool {
	x, xnan := exact(a)
	y, ynan := exact(b)
	if xnan || ynan {
		return xnan && ynan
	}
	return x.Cmp(y) == 0
}
