package bench_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/bench"
	"github.com/seed-29c11ff2/workers/bench/plain"
)

// BenchmarkStub compares a call through an in-process stub with a binding
// call of the same method: the stub runs on one object instead of a fresh
// instance, with the same rules otherwise. Both with generated dispatchers
// (bench.Adder, bench.AdderTarget), and both without (package plain), where
// a target's method is bound to it and called through a shim for its
// shape from its second call on, and by reflection before. fresh_target_1
// and fresh_target_3 make a target per iteration (a call returning it),
// call Add on it once or three times, and close it: what a short-lived
// target costs, binding included.
func BenchmarkStub(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		code workers.Constructor
	}{{"generated", workers.New[bench.Adder]()}, {"plain", workers.New[plain.Adder]()}} {
		b.Run(c.name, func(b *testing.B) { benchStub(b, ctx, binding(b, c.code)) })
	}
}

func benchStub(b *testing.B, ctx context.Context, bd *workers.Binding) {
	for _, calls := range []int{1, 3} {
		b.Run(fmt.Sprintf("fresh_target_%d", calls), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s, err := workers.Call[*workers.Stub](ctx, bd, "Target")
				if err != nil {
					b.Fatal(err)
				}
				for range calls {
					if sink, err = workers.Call[int](ctx, s, "Add", i, 2); err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
		})
	}
	b.Run("binding_call", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := bd.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("stub_call", func(b *testing.B) {
		s, err := workers.Call[*workers.Stub](ctx, bd, "Target")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := s.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
}

// BenchmarkPipe compares a piped chain of two calls with the same two calls
// made one after the other, in-process.
func BenchmarkPipe(b *testing.B) {
	ctx := context.Background()
	bd := binding(b, workers.New[bench.Adder]())
	b.Run("two_calls", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s, err := workers.Call[*workers.Stub](ctx, bd, "Target")
			if err != nil {
				b.Fatal(err)
			}
			if sink, err = workers.Call[int](ctx, s, "Add", i, 2); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("pipe_then_call", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s := workers.Pipe(ctx, bd, "Target")
			var err error
			if sink, err = workers.Call[int](ctx, s, "Add", i, 2); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}
