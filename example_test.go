package workers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/seed-29c11ff2/workers"
)

// WorkerA calls WorkerB's Add through its service binding WORKER_B.
type WorkerA struct{ workers.Entrypoint }

func (w *WorkerA) Fetch(r *http.Request) (*http.Response, error) {
	sum, err := workers.Call[int](r.Context(), w.Env.Service("WORKER_B"), "Add", 1, 2)
	if err != nil {
		return nil, err
	}
	return workers.NewResponse(http.StatusOK, strconv.Itoa(sum)), nil
}

// WorkerB has an RPC method and an HTTP handler.
type WorkerB struct{ workers.Entrypoint }

func (w *WorkerB) Add(a, b int) int { return a + b }

func (w *WorkerB) Fetch(r *http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, "Hello from Worker B"), nil
}

// The first seed example: worker_a's Fetch calls env.WORKER_B.Add(1, 2).
func Example() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = reg.Register("worker_a", workers.Worker{
		Default:  workers.New[WorkerA](),
		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
	})
	_ = reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()})
	if err := reg.Validate(); err != nil {
		fmt.Println(err)
		return
	}

	for _, service := range []string{"worker_a", "worker_b"} {
		client := &http.Client{Transport: reg.Bind(workers.Service{Service: service})}
		resp, err := client.Get("http://" + service + "/")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %s\n", service, body)
	}
	// Output:
	// worker_a: 3
	// worker_b: Hello from Worker B
}

func ExampleCall() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()})

	b := reg.Bind(workers.Service{Service: "worker_b"})
	sum, err := workers.Call[int](context.Background(), b, "Add", 20, 22)
	fmt.Println(sum, err)

	_, err = b.Call(context.Background(), "add", 1, 2)
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// workers: service "worker_b" (default entrypoint): The RPC receiver does not implement the method "add". Did you mean "Add"?
}

// Greeter reads a [vars] value.
type Greeter struct{ workers.Entrypoint }

func (w *Greeter) Greet(name string) string { return w.Env.Var("GREETING") + name }

// The second seed example: [vars] GREETING = "Hello".
func Example_greeting() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	_ = reg.Register("greeter", workers.Worker{
		Default: workers.New[Greeter](),
		Vars:    map[string]any{"GREETING": "Hello"},
	})

	s, err := workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "greeter"}), "Greet", ", World")
	fmt.Println(s, err)
	// Output: Hello, World <nil>
}

// journal records events in order, shared by the example and its worker.
type journal struct {
	mu     sync.Mutex
	events []string
	gate   chan struct{} // the background task waits for it
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

// Signup answers at once and sends the welcome email afterwards.
type Signup struct{ workers.Entrypoint }

func (w *Signup) Signup(email, name string) string {
	j, _ := workers.Get[*journal](w.Env, "JOURNAL")
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		<-j.gate
		j.add("welcome email sent to " + name + " <" + email + ">")
		return nil
	})
	return "Success"
}

// The third seed example: ctx.waitUntil keeps working after the answer, and
// Close waits for it.
func Example_signup() {
	j := &journal{gate: make(chan struct{})}
	reg := workers.NewRegistry()
	_ = reg.Register("signup", workers.Worker{
		Default:  workers.New[Signup](),
		Bindings: map[string]any{"JOURNAL": j},
	})

	res, _ := workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "signup"}), "Signup", "ada@example.com", "Ada")
	j.add("Signup returned " + res)
	close(j.gate) // let the background task go on

	_ = reg.Close(context.Background())
	j.add("Close returned")
	for _, e := range j.events {
		fmt.Println(e)
	}
	// Output:
	// Signup returned Success
	// welcome email sent to Ada <ada@example.com>
	// Close returned
}
