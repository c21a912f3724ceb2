// Command stores runs the stores example, the Go form of Cloudflare's
// public-admin-api-interfaces demo (cloudflare/js-rpc-and-entrypoints-demo):
// three workers, each with its own wrangler.toml, in one registry.
//
//	go run ./examples/stores                 # tell the story, then exit
//	go run ./examples/stores -serve          # serve the workers on localhost until ^C
//	go run ./examples/stores -split          # the story, with db-service in another process
//	go run ./examples/stores -split -serve   # serve them so
//
// With -split, the program starts itself again with -serve-db as
// db-service's own process, serving it with remote.NewHandler on a loopback
// port, and registers db-service in its own registry as a remote worker
// (remote.Register) under the name db-service's wrangler.toml gives. The
// workers' code and the other wrangler files do not change: public-service
// and private-service still call env.STORE, now over the network, and the
// AuthedStore comes back across the process boundary as a stub. The D1
// database is opened by the child alone. When the story ends, the child is
// told to stop (its stdin is closed), closes its registry and exits.
//
// The workers:
//
//   - db-service (db-service/): the only code that touches D1, behind two
//     named entrypoints, PublicStore and AdminStore. PublicStore hands a
//     signed-in user an AuthedStore, an RpcTarget bound to that user.
//   - public-service (public-service/): the users' site, through
//     env.STORE (PublicStore) and the AuthedStore stubs it gets.
//   - private-service (admin-service/): counts and clean-ups through
//     env.STORE (AdminStore).
//
// The database lives in db-service/.wrangler/state/d1/, so a second run
// finds the first run's data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/seed-29c11ff2/workers"
	_ "github.com/seed-29c11ff2/workers/d1" // opens the [[d1_databases]] of the configs
	adminservice "github.com/seed-29c11ff2/workers/examples/stores/admin-service"
	dbservice "github.com/seed-29c11ff2/workers/examples/stores/db-service"
	publicservice "github.com/seed-29c11ff2/workers/examples/stores/public-service"
)

// apps are the example's workers: the directory of each one's wrangler.toml
// and its code.
// app is one worker of the demo: its directory and its code.
type app struct {
	dir  string
	code func() workers.Worker
}

var apps = []app{
	{"db-service", dbservice.Worker},
	{"public-service", publicservice.Worker},
	{"admin-service", adminservice.Worker},
}

func main() {
	dirFlag := flag.String("dir", "", "the example's directory (default: found from the working directory)")
	serveFlag := flag.Bool("serve", false, "serve the workers over HTTP until interrupted, instead of telling the story")
	publicAddr := flag.String("public-addr", "127.0.0.1:8787", "with -serve: where public-service listens")
	adminAddr := flag.String("admin-addr", "127.0.0.1:8788", "with -serve: where private-service listens")
	splitFlag := flag.Bool("split", false, "run db-service in another process (this program, started with -serve-db)")
	serveDBAddr := flag.String("serve-db", "", "serve db-service alone on this address, for -split, until stdin ends")
	flag.Parse()

	dir, err := findDir(*dirFlag)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		switch {
		case *serveDBAddr != "":
			err = serveDB(ctx, os.Stdout, os.Stdin, dir, *serveDBAddr)
		case *serveFlag:
			err = serve(ctx, os.Stdout, dir, *publicAddr, *adminAddr, *splitFlag)
		default:
			err = story(ctx, os.Stdout, dir, *splitFlag)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stores:", err)
		os.Exit(1)
	}
}

func findDir(dir string) (string, error) {
	isExample := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "db-service", "wrangler.toml"))
		return err == nil
	}
	if dir != "" {
		if !isExample(dir) {
			return "", fmt.Errorf("-dir %s: no db-service/wrangler.toml there", dir)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			for _, c := range []string{d, filepath.Join(d, "examples", "stores")} {
				if isExample(c) {
					return c, nil
				}
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && isExample(filepath.Dir(file)) {
		return filepath.Dir(file), nil
	}
	return "", errors.New("cannot find the example's directory: run from the repository root or pass -dir examples/stores")
}

// setup registers every worker with its wrangler.toml under dir in a new
// registry, and returns the registry and the config names by directory.
func setup(dir string, opts ...workers.Option) (*workers.Registry, map[string]string, error) {
	reg := workers.NewRegistry(opts...)
	names := map[string]string{}
	if err := register(reg, dir, apps, names); err != nil {
		reg.Close(context.Background())
		return nil, nil, err
	}
	return reg, names, nil
}

// register registers each of list with its wrangler.toml under dir in reg,
// notes its config name in names, and validates reg.
func register(reg *workers.Registry, dir string, list []app, names map[string]string) error {
	for _, app := range list {
		cfg, err := workers.LoadConfig(filepath.Join(dir, app.dir, "wrangler.toml"))
		if err == nil {
			err = reg.RegisterConfig(cfg, app.code())
		}
		if err != nil {
			return err
		}
		names[app.dir] = cfg.Name
	}
	return reg.Validate()
}

// start registers the workers: all in this process, or, with split,
// db-service in a child process (see startDB). stop closes the registry,
// then stops the child.
func start(ctx context.Context, w io.Writer, dir string, split bool) (reg *workers.Registry, names map[string]string, stop func() error, err error) {
	if !split {
		reg, names, err = setup(dir)
		if err != nil {
			return nil, nil, nil, err
		}
		return reg, names, func() error { return reg.Close(context.Background()) }, nil
	}
	db, err := startDB(ctx, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	reg, names, err = setupSplit(dir, db)
	if err != nil {
		return nil, nil, nil, errors.Join(err, db.stop())
	}
	fmt.Fprintf(w, "db-service runs in process %d, serving at %s; public-service and private-service run here, in process %d, and open no database\n", db.pid, db.url, os.Getpid())
	return reg, names, func() error {
		// This registry first: it releases the stubs it holds (the
		// AuthedStores' Dispose runs there) and ends its session.
		err := reg.Close(context.Background())
		return errors.Join(err, db.stop())
	}, nil
}

// story walks through the demo with HTTP requests to the workers' Fetch
// handlers, as a browser would, and shows what the public site holds of a
// user's store: a stub. With split, db-service runs in another process.
func story(ctx context.Context, w io.Writer, dir string, split bool) (err error) {
	reg, names, stop, err := start(ctx, w, dir, split)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	site := &http.Client{
		Transport:     reg.Bind(workers.Service{Service: names["public-service"]}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	admin := &http.Client{Transport: reg.Bind(workers.Service{Service: names["admin-service"]})}
	db := &http.Client{Transport: reg.Bind(workers.Service{Service: names["db-service"]})}

	fmt.Fprintln(w, "stores: db-service, public-service and private-service, each from its wrangler.toml")
	steps := []struct {
		client      *http.Client
		worker      string
		method, url string
		form        url.Values
	}{
		{db, "db-service", "GET", "/", nil},
		{site, "public-service", "POST", "/", url.Values{"username": {"ada"}}},
		{site, "public-service", "POST", "/user/ada/new", url.Values{"title": {"Write the analytical engine notes"}}},
		{site, "public-service", "POST", "/user/ada/new", url.Values{"title": {"Answer Babbage"}}},
		{site, "public-service", "GET", "/user/ada/", nil},
		{site, "public-service", "GET", "/user/nobody/", nil},
		{admin, "private-service", "GET", "/", nil},
	}
	for _, s := range steps {
		status, body, err := send(ctx, s.client, s.worker, s.method, s.url, s.form)
		if err != nil {
			return err
		}
		what := s.method + " " + s.url
		if s.form != nil {
			what += " " + s.form.Encode()
		}
		fmt.Fprintf(w, "%-16s %-50s -> %d %s\n", s.worker, what, status, strings.ReplaceAll(strings.TrimSpace(body), "\n", " | "))
	}

	// What public-service holds of a user's store: a stub. The AuthedStore,
	// with the database and the user's ID, stays in db-service.
	public := reg.Bind(workers.Service{Service: names["db-service"], Entrypoint: "PublicStore"})
	store, err := workers.Call[*workers.Stub](ctx, public, "GetStoreForUserByUsername", "ada")
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(w, "GetStoreForUserByUsername(\"ada\") gives the caller a %s\n", store)
	if _, err := workers.Call[*dbservice.AuthedStore](ctx, public, "GetStoreForUserByUsername", "ada"); err != nil {
		fmt.Fprintf(w, "asking for the *dbservice.AuthedStore itself is refused: %v\n", errors.Is(err, workers.ErrInvalidResult))
	}
	tasks, err := dbservice.NewAuthedStoreClient(store).GetTasks(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "through the stub, ada has %d tasks; the stub is released with Close\n", len(tasks))
	return nil
}

func send(ctx context.Context, c *http.Client, worker, method, target string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+worker+target, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s %s: %w", worker, method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		data = []byte("Location: " + loc)
	}
	return resp.StatusCode, string(data), err
}

// serve serves public-service and private-service until ctx ends.
func serve(ctx context.Context, w io.Writer, dir, publicAddr, adminAddr string, split bool) (err error) {
	reg, names, stop, err := start(ctx, w, dir, split)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	errc := make(chan error, 2)
	var servers []*http.Server
	for _, s := range []struct{ name, addr string }{{names["public-service"], publicAddr}, {names["admin-service"], adminAddr}} {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: reg.Handler(s.name), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		fmt.Fprintf(w, "%s on http://%s/\n", s.name, ln.Addr())
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		err = errors.Join(err, ignoreClosed(srv.Shutdown(shut)))
	}
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
