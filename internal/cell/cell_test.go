package cell_test

import (
	"math"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers/internal/cell"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type celsius float64

func TestBox(t *testing.T) {
	var b cell.Boxes
	values := []any{int64(-1), int64(math.MinInt64), uint64(math.MaxUint64), 3.25, math.Inf(-1), celsius(-40.5)}
	if strconv.IntSize == 64 {
		values = append(values, 0, -1, math.MaxInt, uint(7), uintptr(42))
	}
	for _, v := range values {
		typ, ok := cell.TypeOf(reflect.TypeOf(v))
		require.True(t, ok, "%T", v)
		got := b.Box(typ, bitsOf(v))
		assert.Equal(t, v, got)
		assert.IsType(t, v, got)
	}
}

func bitsOf(v any) uint64 {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float64:
		return math.Float64bits(rv.Float())
	case reflect.Int, reflect.Int64:
		return uint64(rv.Int())
	}
	return rv.Uint()
}

func TestTypeOfRefuses(t *testing.T) {
	refused := []any{int32(1), float32(1), true, "s", []int{}, new(int), struct{ A int }{}, complex(1, 2)}
	if strconv.IntSize == 32 {
		refused = append(refused, 0, uint(0), uintptr(0)) // 4 bytes there
	}
	for _, v := range refused {
		_, ok := cell.TypeOf(reflect.TypeOf(v))
		assert.False(t, ok, "%T", v)
	}
	assert.False(t, cell.Type{}.Valid())
}

// Values boxed concurrently, across many blocks, keep their own values,
// also after collections that free the blocks no value holds any more.
func TestBoxConcurrent(t *testing.T) {
	var b cell.Boxes
	typ, _ := cell.TypeOf(reflect.TypeFor[int64]())
	const workers, each = 8, 5000
	kept := make([][]any, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				v := b.Box(typ, uint64(w*each+i))
				if i%97 == 0 {
					kept[w] = append(kept[w], v)
				}
			}
		})
	}
	wg.Wait()
	runtime.GC()
	runtime.GC()
	for w, vs := range kept {
		for j, v := range vs {
			assert.Equal(t, int64(w*each+j*97), v)
		}
	}
}

func BenchmarkBox(b *testing.B) {
	typ, _ := cell.TypeOf(reflect.TypeFor[int64]())
	var boxes cell.Boxes
	var sink any
	b.Run("cell", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = boxes.Box(typ, uint64(i+1000))
		}
	})
	b.Run("convT64", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = any(i + 1000)
		}
	})
	_ = sink
}
