package workers_test

import (
	"context"
	"testing"

	"github.com/seed-29c11ff2/workers"
)

func benchBinding(b *testing.B) *workers.Binding {
	b.Helper()
	reg := newRegistry(b)
	register(b, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	return bind(reg, "calc")
}

// BenchmarkBindingCall is the cost of one RPC call: a fresh instance,
// argument matching and copying, and the result.
func BenchmarkBindingCall(b *testing.B) {
	bd := benchBinding(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := bd.Call(ctx, "Add", i, 2); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBindingCallParallel(b *testing.B) {
	bd := benchBinding(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := bd.Call(ctx, "Add", i, 2); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkBindingCallTyped(b *testing.B) {
	bd := benchBinding(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sum, err := workers.Call[int](ctx, bd, "Add", i, 2)
		if err != nil || sum != i+2 {
			b.Fatal(sum, err)
		}
		i++
	}
}
