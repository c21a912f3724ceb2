package workers_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-29c11ff2/workers"
)

// Tally is an RpcTarget: a caller gets a stub, and its calls run on this one
// object, whose fields never leave the worker that made it.
type Tally struct {
	workers.RpcTarget
	n int
}

func (t *Tally) Increment(by int) int { t.n += by; return t.n }

func (t *Tally) Dispose() { fmt.Println("disposed at", t.n) }

type TallyMaker struct{ workers.Entrypoint }

func (w *TallyMaker) MakeCounter(start int) *Tally { return &Tally{n: start} }

// A method returns an RpcTarget; the caller gets a *Stub to it.
func ExampleRpcTarget() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	reg.Register("counters", workers.Worker{Default: workers.New[TallyMaker]()})
	b := reg.Bind(workers.Service{Service: "counters"})
	ctx := context.Background()

	counter, err := workers.Call[*workers.Stub](ctx, b, "MakeCounter", 12)
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := workers.Call[int](ctx, counter, "Increment", 3)
	fmt.Println(n)
	n, _ = workers.Call[int](ctx, counter, "Increment", 3)
	fmt.Println(n)

	counter.Close() // the last reference: Dispose runs
	_, err = counter.Call(ctx, "Increment", 1)
	fmt.Println(err)
	// Output:
	// 15
	// 18
	// disposed at 18
	// workers: RpcTarget (*workers_test.Tally) method "Increment": RPC stub used after being disposed.
}

// Dup makes a second reference, released on its own: the target lives until
// both are released.
func ExampleStub_Dup() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	reg.Register("counters", workers.Worker{Default: workers.New[TallyMaker]()})
	ctx := context.Background()
	counter, _ := workers.Call[*workers.Stub](ctx, reg.Bind(workers.Service{Service: "counters"}), "MakeCounter", 0)

	second := counter.Dup()
	counter.Close()
	n, err := workers.Call[int](ctx, second, "Increment", 1)
	fmt.Println(n, err)
	second.Close()
	// Output:
	// 1 <nil>
	// disposed at 1
}

// Pipe calls a method on a result that may not exist yet: over a network the
// two calls cost one round trip.
func ExamplePipe() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	reg.Register("counters", workers.Worker{Default: workers.New[TallyMaker]()})
	b := reg.Bind(workers.Service{Service: "counters"})
	ctx := context.Background()

	counter := workers.Pipe(ctx, b, "MakeCounter", 12)
	n, err := workers.Call[int](ctx, counter, "Increment", 3)
	fmt.Println(n, err)
	counter.Close()

	_, err = workers.Call[int](ctx, workers.Pipe(ctx, b, "MakeCounter", "twelve"), "Increment", 3)
	fmt.Println(errors.Is(err, workers.ErrInvalidArgument))
	// Output:
	// 15 <nil>
	// disposed at 15
	// true
}

// Notifier calls back into its caller through a func the caller passed.
type Notifier struct{ workers.Entrypoint }

func (w *Notifier) Countdown(from int, tick func(int) error) error {
	for i := from; i > 0; i-- {
		if err := tick(i); err != nil {
			return err
		}
	}
	return nil
}

// A func passed as an argument crosses by reference: the callee's calls run
// the caller's func, in the caller's process, until the method returns
// (over remote too, where it calls back across the network).
func Example_callback() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	reg.Register("notifier", workers.Worker{Default: workers.New[Notifier]()})
	b := reg.Bind(workers.Service{Service: "notifier"})

	var got []int
	_, err := b.Call(context.Background(), "Countdown", 3, func(i int) error {
		got = append(got, i)
		return nil
	})
	fmt.Println(got, err)
	// Output: [3 2 1] <nil>
}
