package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// WorkerB is served by one process and called from another.
type WorkerB struct{ workers.Entrypoint }

func (w *WorkerB) Add(a, b int) int { return a + b }

// WorkerA calls WorkerB through its binding, not knowing where it runs.
type WorkerA struct{ workers.Entrypoint }

func (w *WorkerA) Sum(a, b int) (int, error) {
	return workers.Call[int](w.Ctx, w.Env.Service("WORKER_B"), "Add", a, b)
}

func ExampleNewHandler() {
	// The serving process: worker_b, behind an HTTP/2 (h2c) server that
	// lets the holder of one token call it.
	served := workers.NewRegistry()
	defer served.Close(context.Background())
	_ = served.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()})
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(served, remote.AllowToken("s3cret", remote.Allow{Service: "worker_b"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	// The calling process: worker_a, with worker_b registered as remote.
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = remote.Register(reg, "worker_b", srv.URL, remote.WithBearerToken("s3cret"))
	_ = reg.Register("worker_a", workers.Worker{
		Default:  workers.New[WorkerA](),
		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
	})

	sum, err := workers.Call[int](context.Background(), reg.Bind(workers.Service{Service: "worker_a"}), "Sum", 20, 22)
	fmt.Println(sum, err)
	// Output: 42 <nil>
}

func ExampleDialer() {
	// What a config loader does for a service entry with an address.
	dial := remote.Dialer(remote.WithBearerToken("s3cret"))
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	t, err := dial("worker_b", "http://worker-b.workers.svc.cluster.local:8787")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t, reg.RegisterRemote("worker_b", t))

	_, err = dial("worker_c", "ftp://worker-c")
	fmt.Println(err)
	// Output:
	// http://worker-b.workers.svc.cluster.local:8787 <nil>
	// remote: service "worker_c": base URL "ftp://worker-c": scheme must be http or https
}

// Meter is an RpcTarget of the serving process.
type Meter struct {
	workers.RpcTarget
	n        int
	disposed chan int
}

func (m *Meter) Add(by int) int { m.n += by; return m.n }

func (m *Meter) Dispose() { m.disposed <- m.n }

// Meters hands out Meters and calls back what its callers pass.
type Meters struct{ workers.Entrypoint }

var meterDisposed = make(chan int, 1)

func (w *Meters) Open(start int) *Meter { return &Meter{n: start, disposed: meterDisposed} }

func (w *Meters) Report(m *workers.Stub, report func(int) error) error {
	n, err := workers.Call[int](w.Ctx, m, "Add", 0)
	if err != nil {
		return err
	}
	return report(n)
}

// Across processes, an RpcTarget the server returns is a stub whose calls
// run on the server's object; the caller passes it back with a callback
// that the server calls; when the caller closes the stub, the server's
// Dispose runs.
func ExampleNewHandler_references() {
	served := workers.NewRegistry()
	defer served.Close(context.Background())
	_ = served.Register("meters", workers.Worker{Default: workers.New[Meters]()})
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(served, remote.AllowToken("s3cret", remote.Allow{Service: "meters"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = remote.Register(reg, "meters", srv.URL, remote.WithBearerToken("s3cret"))
	meters := reg.Bind(workers.Service{Service: "meters"})
	ctx := context.Background()

	meter, err := workers.Call[*workers.Stub](ctx, meters, "Open", 40)
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := workers.Call[int](ctx, meter, "Add", 2)
	fmt.Println("added in the server:", n)
	_, err = meters.Call(ctx, "Report", meter, func(n int) error {
		fmt.Println("called back in the caller:", n)
		return nil
	})
	fmt.Println(err)
	meter.Close() // the last reference: the server's Dispose runs
	fmt.Println("disposed at", <-meterDisposed)
	_, err = meter.Call(ctx, "Add", 1)
	fmt.Println(errors.Is(err, workers.ErrDisposed))
	// Output:
	// added in the server: 42
	// called back in the caller: 42
	// <nil>
	// disposed at 42
	// true
}

// Counter is an RpcTarget that worker_c returns; its state stays there.
type Counter struct {
	workers.RpcTarget
	n int
}

func (c *Counter) Increment(by int) int { c.n += by; return c.n }

// WorkerC makes Counters.
type WorkerC struct{ workers.Entrypoint }

func (w *WorkerC) MakeCounter(start int) *Counter { return &Counter{n: start} }

func Example_pipelining() {
	served := workers.NewRegistry()
	defer served.Close(context.Background())
	_ = served.Register("worker_c", workers.Worker{Default: workers.New[WorkerC]()})
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(served, remote.AllowToken("s3cret", remote.Allow{Service: "worker_c"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = remote.Register(reg, "worker_c", srv.URL, remote.WithBearerToken("s3cret"))
	ctx := context.Background()
	b := reg.Bind(workers.Service{Service: "worker_c"})

	// MakeCounter and Increment travel together: one round trip.
	counter := workers.Pipe(ctx, b, "MakeCounter", 12)
	defer counter.Close()
	n, err := workers.Call[int](ctx, counter, "Increment", 3)
	fmt.Println(n, err)

	// A call piped on a failed one fails with its error.
	_, err = workers.Call[int](ctx, workers.Pipe(ctx, b, "MakeCounters", 1), "Increment", 1)
	fmt.Println(errors.Is(err, workers.ErrMethodNotFound))
	// Output:
	// 15 <nil>
	// true
}
