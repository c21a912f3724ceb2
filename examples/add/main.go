// Command add is the first example of Workers service bindings, in Go:
// worker_a's Fetch calls worker_b's Add through the binding WORKER_B.
//
//	go run ./examples/add
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"

	"github.com/seed-29c11ff2/workers"
)

// WorkerA is the caller: it holds a service binding WORKER_B.
type WorkerA struct{ workers.Entrypoint }

func (w *WorkerA) Fetch(r *http.Request) (*http.Response, error) {
	sum, err := workers.Call[int](r.Context(), w.Env.Service("WORKER_B"), "Add", 1, 2)
	if err != nil {
		return nil, err
	}
	return workers.NewResponse(http.StatusOK, strconv.Itoa(sum)), nil
}

// WorkerB exposes an RPC method and an HTTP handler.
type WorkerB struct{ workers.Entrypoint }

func (w *WorkerB) Add(a, b int) int { return a + b }

func (w *WorkerB) Fetch(r *http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, "Hello from Worker B"), nil
}

func main() {
	reg := workers.NewRegistry()
	must(reg.Register("worker_a", workers.Worker{
		Default:  workers.New[WorkerA](),
		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
	}))
	must(reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()}))
	must(reg.Validate())
	defer reg.Close(context.Background())

	client := &http.Client{Transport: reg.Bind(workers.Service{Service: "worker_a"})}
	fmt.Println("worker_a responds:", get(client))

	client.Transport = reg.Bind(workers.Service{Service: "worker_b"})
	fmt.Println("worker_b responds:", get(client))

	sum, err := workers.Call[int](context.Background(), reg.Bind(workers.Service{Service: "worker_b"}), "Add", 20, 22)
	must(err)
	fmt.Println("worker_b.Add(20, 22) =", sum)
}

func get(c *http.Client) string {
	resp, err := c.Get("http://example.com/")
	must(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(err)
	return string(body)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
