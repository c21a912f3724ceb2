// Command remote runs worker_b in one process and worker_a in another:
// worker_a calls worker_b's Add through its service binding WORKER_B, which
// goes over the network (connect-go, HTTP/2) instead of staying in-process.
// worker_a's code does not change.
//
//	go run ./examples/remote -serve 127.0.0.1:8787        # worker_b
//	go run ./examples/remote -call http://127.0.0.1:8787  # worker_a, in another terminal
//	go run ./examples/remote                              # both, in one process, on a loopback port
//
// Both sides share a token (-token, or $WORKERS_TOKEN): the serving side
// lets its holder call worker_b and nothing else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// WorkerB is the callee, served by the -serve process.
type WorkerB struct{ workers.Entrypoint }

func (w *WorkerB) Add(a, b int) int { return a + b }

func (w *WorkerB) Fetch(r *http.Request) (*http.Response, error) {
	return workers.NewResponse(http.StatusOK, "Hello from Worker B, served at "+r.Host), nil
}

// WorkerA is the caller, run by the -call process. It is the same code as
// when both workers share a process.
type WorkerA struct{ workers.Entrypoint }

func (w *WorkerA) Fetch(r *http.Request) (*http.Response, error) {
	sum, err := workers.Call[int](r.Context(), w.Env.Service("WORKER_B"), "Add", 1, 2)
	if err != nil {
		return nil, err
	}
	return workers.NewResponse(http.StatusOK, strconv.Itoa(sum)), nil
}

func main() {
	serveAddr := flag.String("serve", "", "serve worker_b on this address (host:port)")
	callURL := flag.String("call", "", "run worker_a, calling worker_b at this URL")
	token := flag.String("token", envOr("WORKERS_TOKEN", "example-token"), "the token worker_a presents to worker_b's server")
	flag.Parse()

	switch {
	case *serveAddr != "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		ln, err := net.Listen("tcp", *serveAddr)
		must(err)
		log.Printf("serving worker_b on http://%s (h2c); Ctrl-C to stop", ln.Addr())
		must(serve(ctx, ln, *token))
	case *callURL != "":
		must(call(*callURL, *token))
	default:
		// Both sides in one process, as CI runs it: worker_b on a loopback
		// port, worker_a calling it there.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, ln, *token) }()
		fmt.Printf("worker_b serving on http://%s\n", ln.Addr())
		err = call("http://"+ln.Addr().String(), *token)
		stop()
		must(errors.Join(err, <-done))
	}
}

// serve runs worker_b's registry behind an HTTP/2 server until ctx ends,
// then shuts down: the server first, then the registry, which waits for
// calls and WaitUntil tasks.
func serve(ctx context.Context, ln net.Listener, token string) error {
	reg := workers.NewRegistry()
	if err := reg.Register("worker_b", workers.Worker{Default: workers.New[WorkerB]()}); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, remote.AllowToken(token, remote.Allow{Service: "worker_b"})))
	srv := &http.Server{
		Handler:   mux,
		Protocols: new(http.Protocols),
		// They bound what a peer may hold before it is allowed; the handler
		// lifts ReadTimeout and WriteTimeout for allowed calls and Fetches,
		// so that long calls and streamed bodies go through.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c: for loopback or a private network
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(shutdown), reg.Close(shutdown))
}

// call runs worker_a with its binding WORKER_B going to baseURL, and uses
// it three ways.
func call(baseURL, token string) error {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	if err := remote.Register(reg, "worker_b", baseURL, remote.WithBearerToken(token)); err != nil {
		return err
	}
	if err := reg.Register("worker_a", workers.Worker{
		Default:  workers.New[WorkerA](),
		Services: []workers.Service{{Binding: "WORKER_B", Service: "worker_b"}},
	}); err != nil {
		return err
	}
	if err := reg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// worker_a's Fetch calls worker_b.Add(1, 2) through WORKER_B.
	rec := httptest.NewRecorder()
	reg.Bind(workers.Service{Service: "worker_a"}).ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://worker_a/", nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("worker_a answered %d: %s", rec.Code, rec.Body)
	}
	fmt.Println("worker_a responds:", rec.Body)

	// A direct call, and a Fetch, through a binding to the remote worker.
	workerB := reg.Bind(workers.Service{Service: "worker_b"})
	sum, err := workers.Call[int](ctx, workerB, "Add", 20, 22)
	if err != nil {
		return err
	}
	fmt.Println("worker_b.Add(20, 22) =", sum)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://worker_b/", nil)
	if err != nil {
		return err
	}
	resp, err := workerB.Fetch(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Println("worker_b responds:", string(body))

	// Errors keep their identity across the network.
	_, err = workerB.Call(ctx, "Subtract", 2, 1)
	fmt.Println("worker_b.Subtract: errors.Is(err, workers.ErrMethodNotFound) =", errors.Is(err, workers.ErrMethodNotFound))
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
