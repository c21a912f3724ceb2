// Command todo runs the todo example: three workers, each with its own
// wrangler.toml, composed in one registry and talking through the service
// bindings their files declare, on a D1 database kept on disk.
//
//	go run ./examples/todo          # tell the story, then exit
//	go run ./examples/todo -serve   # serve the workers on localhost until ^C
//
// The workers:
//
//   - todo-app (todo-app/): users and tasks in D1, behind AdminEntrypoint and
//     UserEntrypoint; its default Fetch lists the tasks as JSON.
//   - admin-app (admin-app/): its Fetch calls env.ADMIN.CreateUser("aNewUser")
//     through AdminEntrypoint, with props that grant read and write.
//   - frontend (frontend/): tasks through env.USER (UserEntrypoint); users
//     through env.ADMIN, whose props grant only read.
//
// The database lives in todo-app/.wrangler/state/d1/, as wrangler dev keeps
// it, so a second run finds the first run's data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seed-29c11ff2/workers"
	_ "github.com/seed-29c11ff2/workers/d1" // opens the [[d1_databases]] of the configs
	adminapp "github.com/seed-29c11ff2/workers/examples/todo/admin-app"
	"github.com/seed-29c11ff2/workers/examples/todo/frontend"
	todoapp "github.com/seed-29c11ff2/workers/examples/todo/todo-app"
)

// apps are the example's workers: the directory of each one's wrangler.toml
// and its code.
var apps = []struct {
	dir  string
	code func() workers.Worker
}{
	{"todo-app", todoapp.Worker},
	{"admin-app", adminapp.Worker},
	{"frontend", frontend.Worker},
}

func main() {
	dirFlag := flag.String("dir", "", "the example's directory, holding todo-app/, admin-app/ and frontend/ (default: found from the working directory)")
	serveFlag := flag.Bool("serve", false, "serve the workers over HTTP until interrupted, instead of telling the story")
	todoAddr := flag.String("todo-addr", "127.0.0.1:8787", "with -serve: where todo-app listens")
	adminAddr := flag.String("admin-addr", "127.0.0.1:8788", "with -serve: where admin-app listens")
	frontendAddr := flag.String("frontend-addr", "127.0.0.1:8789", "with -serve: where frontend listens")
	flag.Parse()

	dir, err := findDir(*dirFlag)
	if err == nil {
		if *serveFlag {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = serveAll(ctx, os.Stdout, dir, []service{
				{"todo-app", *todoAddr}, {"admin-app", *adminAddr}, {"frontend", *frontendAddr},
			})
		} else {
			err = story(context.Background(), os.Stdout, dir)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

// findDir returns the example's directory: dir if given; otherwise
// examples/todo found from the working directory or one of its parents (or
// the working directory itself); otherwise the directory of this source
// file, as the compiler recorded it.
func findDir(dir string) (string, error) {
	isExample := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "todo-app", "wrangler.toml"))
		return err == nil
	}
	if dir != "" {
		if !isExample(dir) {
			return "", fmt.Errorf("-dir %s: no todo-app/wrangler.toml there", dir)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		if isExample(wd) {
			return wd, nil
		}
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, "examples", "todo"); isExample(c) {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && isExample(filepath.Dir(file)) {
		return filepath.Dir(file), nil
	}
	return "", errors.New("cannot find the example's directory: run from the repository root or pass -dir examples/todo")
}

// setup registers every worker with its wrangler.toml under dir in a new
// registry, and returns it with the configs by worker name.
func setup(dir string, opts ...workers.Option) (*workers.Registry, map[string]*workers.Config, error) {
	reg := workers.NewRegistry(opts...)
	cfgs := map[string]*workers.Config{}
	fail := func(err error) (*workers.Registry, map[string]*workers.Config, error) {
		_ = reg.Close(context.Background())
		return nil, nil, err
	}
	for _, app := range apps {
		cfg, err := workers.LoadConfig(filepath.Join(dir, app.dir, "wrangler.toml"))
		if err != nil {
			return fail(err)
		}
		if err := reg.RegisterConfig(cfg, app.code()); err != nil {
			return fail(err)
		}
		cfgs[cfg.Name] = cfg
	}
	// Every binding of every file must reach a registered worker and
	// entrypoint, as a deployment checks.
	if err := reg.Validate(); err != nil {
		return fail(err)
	}
	return reg, cfgs, nil
}

// story runs the example's story against the database under dir and prints
// it to out.
func story(ctx context.Context, out io.Writer, dir string) (err error) {
	reg, cfgs, err := setup(dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, reg.Close(context.Background())) }()
	p := &printer{out: out, reg: reg}

	p.step(`admin-app's fetch calls env.ADMIN.CreateUser("aNewUser") (AdminEntrypoint, props clientId "frontend-worker", permissions read+write)`)
	p.fetch(ctx, "admin-app", http.MethodGet, "/", "", http.StatusCreated, http.StatusConflict)

	p.step("frontend creates and lists tasks through env.USER (UserEntrypoint)")
	for _, title := range []string{"Buy milk", "Write the report"} {
		p.fetch(ctx, "frontend", http.MethodPost, "/users/aNewUser/tasks", title, http.StatusCreated)
	}
	p.fetch(ctx, "frontend", http.MethodGet, "/users/aNewUser/tasks", "", http.StatusOK)
	p.fetch(ctx, "frontend", http.MethodGet, "/users", "", http.StatusOK)

	p.step("todo-app's default entrypoint lists every task as JSON")
	p.fetch(ctx, "todo-app", http.MethodGet, "/", "", http.StatusOK)

	p.step("the USER binding cannot reach AdminEntrypoint's methods")
	if p.err == nil {
		user, err := bindingOf(reg, cfgs["frontend"], "USER")
		if err != nil {
			return err
		}
		// A typed client of AdminEntrypoint pointed at the USER binding: the
		// call goes to UserEntrypoint, which has no CreateUser.
		_, err = todoapp.NewAdminEntrypointClient(user).CreateUser(ctx, "mallory")
		if !errors.Is(err, workers.ErrMethodNotFound) {
			return fmt.Errorf("CreateUser through USER: want ErrMethodNotFound, got %v", err)
		}
		fmt.Fprintf(out, "   env.USER.CreateUser(\"mallory\") refused: %v\n", err)
	}

	p.step(`frontend's DELETE /users/aNewUser goes through env.ADMIN, whose props grant only "read"`)
	p.fetch(ctx, "frontend", http.MethodDelete, "/users/aNewUser", "", http.StatusForbidden)
	return p.err
}

// bindingOf returns a binding like the one called name in cfg: the same
// service, entrypoint and props the worker's Env holds.
func bindingOf(reg *workers.Registry, cfg *workers.Config, name string) (*workers.Binding, error) {
	for _, s := range cfg.Services {
		if s.Binding == name {
			return reg.Bind(workers.Service{Binding: s.Binding, Service: s.Service, Entrypoint: s.Entrypoint, Props: s.Props}), nil
		}
	}
	return nil, fmt.Errorf("%s has no service binding %s", cfg.Path, name)
}

// printer prints the steps of the story; its err is the first failure.
type printer struct {
	out io.Writer
	reg *workers.Registry
	n   int
	err error
}

func (p *printer) step(title string) {
	if p.err != nil {
		return
	}
	p.n++
	if p.n > 1 {
		fmt.Fprintln(p.out)
	}
	fmt.Fprintf(p.out, "%d. %s\n", p.n, title)
}

// fetch sends a request to service's Fetch, through a binding, and prints
// the answer. A status not in want fails the story.
func (p *printer) fetch(ctx context.Context, service, method, path, body string, want ...int) {
	if p.err != nil {
		return
	}
	url := "http://" + service + path
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		p.err = err
		return
	}
	client := &http.Client{Transport: p.reg.Bind(workers.Service{Service: service})}
	resp, err := client.Do(req)
	if err != nil {
		p.err = err
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		p.err = err
		return
	}
	request := method + " " + url
	if body != "" {
		request += fmt.Sprintf(" %q", body)
	}
	fmt.Fprintf(p.out, "   %s -> %s: %s\n", request, resp.Status, strings.TrimSpace(string(data)))
	for _, w := range want {
		if resp.StatusCode == w {
			return
		}
	}
	p.err = fmt.Errorf("%s: unexpected status %s", request, resp.Status)
}

// service is a worker to serve, and where.
type service struct{ name, addr string }

// serveAll sets the workers up under dir, listens on each service's address
// and serves it until ctx is done.
func serveAll(ctx context.Context, out io.Writer, dir string, services []service) error {
	reg, _, err := setup(dir)
	if err != nil {
		return err
	}
	listeners := map[string]net.Listener{}
	for _, s := range services {
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return errors.Join(fmt.Errorf("%s: %w", s.name, err), reg.Close(context.Background()))
		}
		listeners[s.name] = l
	}
	return serve(ctx, out, reg, listeners)
}

// serve serves the Fetch of each worker on its listener, a fresh instance
// per request, until ctx is done or a server fails; then it shuts the servers
// down and closes the registry.
func serve(ctx context.Context, out io.Writer, reg *workers.Registry, listeners map[string]net.Listener) error {
	errs := make(chan error, len(listeners))
	var servers []*http.Server
	var wg sync.WaitGroup
	for _, name := range slices.Sorted(maps.Keys(listeners)) {
		l := listeners[name]
		srv := &http.Server{Handler: reg.Handler(name), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		fmt.Fprintf(out, "%-9s http://%s/\n", name, l.Addr())
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	fmt.Fprintln(out, "serving; press Ctrl-C to stop")

	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(shutdown))
	}
	wg.Wait()
	for _, l := range listeners {
		_ = l.Close() // in case Shutdown came before Serve took it
	}
	err = errors.Join(err, reg.Close(shutdown))
	fmt.Fprintln(out, "stopped")
	return err
}
