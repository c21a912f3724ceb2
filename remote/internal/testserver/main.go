// Command testserver serves workers for the process tests of package
// remote: it is the other process, started, killed and restarted by the
// tests, and built without the race detector so that it runs at full speed
// under `go test -race`. It listens on -addr (loopback), prints
// "LISTENING <addr>" and serves until its standard input closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
	"github.com/seed-29c11ff2/workers/remote"
)

// Calc adds, and waits.
type Calc struct{ workers.Entrypoint }

func (w *Calc) Add(a, b int) int { return a + b }

// Slow waits for ctx, and records in dir that it started and, if so, that
// it was canceled: the tests read the markers from their process.
func (w *Calc) Slow(ctx context.Context, dir string) error {
	_ = os.WriteFile(filepath.Join(dir, "started"), nil, 0o644)
	select {
	case <-ctx.Done():
		_ = os.WriteFile(filepath.Join(dir, "canceled"), []byte(ctx.Err().Error()), 0o644)
		return ctx.Err()
	case <-time.After(time.Minute):
		return nil
	}
}

// Counter is an RpcTarget the process tests hold stubs of.
type Counter struct {
	workers.RpcTarget
	mu sync.Mutex
	n  int
}

// Increment adds by and returns the new count.
func (c *Counter) Increment(by int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += by
	return c.n
}

// Slow is Calc.Slow, on a target.
func (c *Counter) Slow(ctx context.Context, dir string) error { return (*Calc)(nil).Slow(ctx, dir) }

// MakeCounter returns a new Counter: the caller gets a stub of it.
func (w *Calc) MakeCounter(start int) *Counter { return &Counter{n: start} }

// Apply calls the caller's callback.
func (w *Calc) Apply(f func(int) (int, error), x int) (int, error) { return f(x) }

// Rows writes one row per call to a D1 table.
type Rows struct{ workers.Entrypoint }

func (w *Rows) db() *d1.Database {
	db, _ := workers.Get[*d1.Database](w.Env, "DB")
	return db
}

// Insert records the effect (g, i) and returns its row id.
func (w *Rows) Insert(ctx context.Context, g, i int) (int64, error) {
	res, err := w.db().Prepare("INSERT INTO effects (g, i) VALUES (?, ?)").Bind(g, i).Run(ctx)
	if err != nil {
		return 0, err
	}
	return res.Meta.LastRowID, nil
}

// Count returns how many rows there are, and how many distinct effects.
func (w *Rows) Count(ctx context.Context) ([]int64, error) {
	row, err := w.db().Prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT g * 1000000 + i) AS d FROM effects").First(ctx)
	if err != nil {
		return nil, err
	}
	return []int64{row["n"].(int64), row["d"].(int64)}, nil
}

// Ledger is a Durable Object whose count is in storage.
type Ledger struct{ workers.DurableObject }

func (l *Ledger) Add(ctx context.Context, by int) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, l.State.Storage(), "n")
	if err != nil {
		return 0, err
	}
	n += by
	return n, l.State.Storage().Put(ctx, "n", n)
}

func (l *Ledger) Get(ctx context.Context) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, l.State.Storage(), "n")
	return n, err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "the loopback address to listen on")
	dbPath := flag.String("db", "", "the SQLite file of the Rows worker")
	flag.Parse()
	if err := run(*addr, *dbPath); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run(addr, dbPath string) error {
	db, err := d1.Open(dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), "CREATE TABLE IF NOT EXISTS effects (g INTEGER NOT NULL, i INTEGER NOT NULL)"); err != nil {
		return err
	}
	reg := workers.NewRegistry(workers.WithStateDir(filepath.Join(filepath.Dir(dbPath), "state")))
	defer reg.Close(context.Background())
	if err := reg.Register("ledgers", workers.Worker{DurableObjects: map[string]workers.Constructor{"Ledger": workers.New[Ledger]()}}); err != nil {
		return err
	}
	if err := reg.Register("calc", workers.Worker{Default: workers.New[Calc]()}); err != nil {
		return err
	}
	if err := reg.Register("rows", workers.Worker{Default: workers.New[Rows](), Bindings: map[string]any{"DB": db}}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, remote.InsecureAllowAll()))     // loopback only
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols), // the documented timeouts
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTENING %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}
