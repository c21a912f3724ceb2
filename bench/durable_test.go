package bench_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/bench/plain"
)

// AdderObject is plain.Adder as a Durable Object.
type AdderObject struct{ workers.DurableObject }

// Add is the method measured.
func (a *AdderObject) Add(x, y int) int { return x + y }

// Do runs fn on the object's storage, inside a call.
func (a *AdderObject) Do(ctx context.Context, fn func(context.Context, *workers.Storage) error) error {
	return fn(ctx, a.State.Storage())
}

func objects(tb testing.TB, opts ...workers.Option) *workers.DurableObjectNamespace {
	reg := workers.NewRegistry(append([]workers.Option{workers.WithStateDir(tb.TempDir())}, opts...)...)
	require.NoError(tb, reg.Register("app", workers.Worker{
		Default:        workers.New[plain.Adder](),
		DurableObjects: map[string]workers.Constructor{"Adder": workers.New[AdderObject]()},
	}))
	tb.Cleanup(func() { reg.Close(context.Background()) })
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Adder"})
}

// BenchmarkDurable compares a call to a live in-process Durable Object with
// Binding.Call of the same method (target: at most 2x), and measures Put.
func BenchmarkDurable(b *testing.B) {
	ctx := context.Background()
	b.Run("binding_call", func(b *testing.B) {
		bd := binding(b, workers.New[plain.Adder]())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := bd.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("object_call", func(b *testing.B) {
		s := objects(b).GetByName("a")
		if _, err := s.Call(ctx, "Add", 1, 2); err != nil { // make the object live
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := s.Call(ctx, "Add", i, 2)
			if err != nil {
				b.Fatal(err)
			}
			sink = v.(int)
		}
	})
	b.Run("object_call_parallel", func(b *testing.B) {
		ns := objects(b)
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			s := ns.GetByName(fmt.Sprint(n.Add(1))) // an object per goroutine
			for i := 0; pb.Next(); i++ {
				if _, err := s.Call(ctx, "Add", i, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	put := func(b *testing.B, perTx int, opts ...workers.Option) {
		s := objects(b, opts...).GetByName("p")
		b.ReportAllocs()
		err := errOf(s.Call(ctx, "Do", func(ctx context.Context, st *workers.Storage) error {
			for i := 0; b.Loop(); i++ {
				if perTx == 1 {
					if err := st.Put(ctx, "k", i); err != nil {
						return err
					}
					continue
				}
				if err := st.Transaction(ctx, func(tx *workers.Storage) error {
					for j := range perTx {
						if err := tx.Put(ctx, fmt.Sprint("k", j), i); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		if perTx > 1 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx), "ns/put")
		}
	}
	b.Run("put_small", func(b *testing.B) { put(b, 1) })
	b.Run("put_small_sync_full", func(b *testing.B) { put(b, 1, workers.WithDurableObjectSyncFull()) })
	b.Run("put_100_in_transaction", func(b *testing.B) { put(b, 100) })
}

func errOf(_ any, err error) error { return err }
