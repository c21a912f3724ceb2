package bench_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/bench"
	"github.com/seed-29c11ff2/workers/bench/plain"
)

func adderBinding(tb testing.TB) *workers.Binding {
	return binding(tb, workers.New[bench.Adder]())
}

func binding(tb testing.TB, code workers.Constructor) *workers.Binding {
	reg := workers.NewRegistry()
	require.NoError(tb, reg.Register("adder", workers.Worker{Default: code}))
	tb.Cleanup(func() { reg.Close(context.Background()) })
	return reg.Bind(workers.Service{Service: "adder"})
}

type adder interface{ Add(a, b int) int }

// sink keeps results alive so the compiler cannot drop the calls.
var sink int

// BenchmarkAdd is the side-by-side comparison of bench/README.md.
func BenchmarkAdd(b *testing.B) {
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		w := &bench.Adder{}
		for i := 0; b.Loop(); i++ {
			sink = w.Add(i, 2)
		}
	})
	b.Run("interface", func(b *testing.B) {
		var w adder = &bench.Adder{}
		for i := 0; b.Loop(); i++ {
			sink = w.Add(i, 2)
		}
	})
	b.Run("binding_call", func(b *testing.B) {
		bd := binding(b, workers.New[plain.Adder]()) // no generated code
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := bd.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("binding_call_parallel", func(b *testing.B) {
		bd := binding(b, workers.New[plain.Adder]())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := bd.Call(ctx, "Add", i, 2); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("binding_call_generated", func(b *testing.B) {
		bd := adderBinding(b) // Binding.Call through the generated dispatcher
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := bd.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("typed_client", func(b *testing.B) {
		c := bench.NewAdderClient(adderBinding(b))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := c.Add(ctx, i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v
		}
	})
	b.Run("net_rpc_pipe", func(b *testing.B) {
		c := netRPCClient(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var sum int
			if err := c.Call("Arith.Add", ArithArgs{A: i, B: 2}, &sum); err != nil {
				b.Fatal(err)
			}
			sink = sum
		}
	})
	b.Run("grpc_bufconn", func(b *testing.B) {
		conn := grpcConn(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var res addRes
			if err := conn.Invoke(ctx, "/bench.Adder/Add", &addReq{A: int64(i), B: 2}, &res); err != nil {
				b.Fatal(err)
			}
			sink = int(res.Sum)
		}
	})
	b.Run("connect_memhttp", func(b *testing.B) {
		c := connectClient(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			res, err := c.CallUnary(ctx, connect.NewRequest(&addReq{A: int64(i), B: 2}))
			if err != nil {
				b.Fatal(err)
			}
			sink = int(res.Msg.Sum)
		}
	})
}

// BenchmarkCopy measures what copy semantics cost for larger arguments.
func BenchmarkCopy(b *testing.B) {
	ctx := context.Background()
	bd := adderBinding(b)
	b.Run("payload_1KiB", func(b *testing.B) {
		p := payload()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bd.Call(ctx, "Echo", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bytes_64KiB", func(b *testing.B) {
		data := make([]byte, 64<<10)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bd.Call(ctx, "Bytes", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// payload is about 1 KiB: a name, 8 tags and 100 float64s.
func payload() bench.Payload {
	p := bench.Payload{ID: 7, Name: strings.Repeat("n", 64)}
	for range 8 {
		p.Tags = append(p.Tags, strings.Repeat("t", 16))
	}
	for i := range 100 {
		p.Values = append(p.Values, float64(i))
	}
	return p
}

// TestHeapFlat makes 10 million calls and checks that the live heap does
// not grow: nothing is retained per call.
func TestHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("10 million calls")
	}
	ctx := context.Background()
	bd := adderBinding(t)
	c := bench.NewAdderClient(bd)
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	calls := func(n int) {
		for i := range n {
			if _, err := bd.Call(ctx, "Add", i, 2); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, i, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	calls(100_000) // warm up: method tables, pools, copier plans
	before := live()
	calls(5_000_000) // two calls each: 10 million
	after := live()
	require.Less(t, int64(after)-int64(before), int64(256<<10), "live heap grew from %d to %d bytes", before, after)
}

// allocSink keeps allocations alive past the compiler.
var allocSink *[8]*int

// BenchmarkAlloc64 is the floor under any call that allocates: one 64-byte
// object with pointers, garbage collection included.
func BenchmarkAlloc64(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		allocSink = new([8]*int)
	}
}

// BenchmarkIntercepted is BenchmarkAdd's binding_call and typed_client
// with one interceptor that only passes each call on: what observing calls
// costs before the interceptor does anything. A typed client of an
// intercepted worker takes the by-name path, so that the interceptor sees
// the call with its arguments.
func BenchmarkIntercepted(b *testing.B) {
	ctx := context.Background()
	pass := workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc { return next })
	bind := func(b *testing.B, code workers.Constructor) *workers.Binding {
		reg := workers.NewRegistry(workers.WithInterceptors(pass))
		require.NoError(b, reg.Register("adder", workers.Worker{Default: code}))
		b.Cleanup(func() { reg.Close(context.Background()) })
		return reg.Bind(workers.Service{Service: "adder"})
	}
	b.Run("binding_call", func(b *testing.B) {
		bd := bind(b, workers.New[plain.Adder]())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := bd.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("typed_client", func(b *testing.B) {
		c := bench.NewAdderClient(bind(b, workers.New[bench.Adder]()))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := c.Add(ctx, i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v
		}
	})
}
