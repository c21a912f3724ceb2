package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// tokenEnv carries the bearer token from the -split process to the
// db-service process it starts: in the environment, not on a command line
// that other users of the machine can read.
const tokenEnv = "STORES_DB_TOKEN"

// dbProcess is db-service running in a child process, started by -split.
type dbProcess struct {
	url   string // where its remote handler listens
	token string // what this process presents to it
	pid   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan error // the child's stdout, drained until it ends
}

// startDB starts this program again, with -serve-db, as db-service's own
// process on a loopback port, and returns once it serves.
func startDB(ctx context.Context, dir string) (*dbProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("-split: %w", err)
	}
	token := rand.Text()
	cmd := exec.CommandContext(ctx, exe, "-serve-db", "127.0.0.1:0", "-dir", dir)
	cmd.Env = append(os.Environ(), tokenEnv+"="+token)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("-split: start db-service: %w", err)
	}
	p := &dbProcess{token: token, pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, out: make(chan error, 1)}
	lines := bufio.NewReader(stdout)
	first, err := lines.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(first), "db-service on ")
	if err != nil || !ok {
		p.stop()
		return nil, fmt.Errorf("-split: db-service did not start (it said %q): %v", first, err)
	}
	p.url = url
	go func() {
		_, err := io.Copy(io.Discard, lines)
		p.out <- err
	}()
	return p, nil
}

// stop asks the child to shut down, by closing its stdin, and waits for
// it: it closes its registry first, so that its Dispose hooks and D1
// database are closed cleanly. A child that does not go is killed.
func (p *dbProcess) stop() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("db-service (pid %d): %w", p.pid, err)
		}
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("db-service (pid %d) did not stop within 10s: killed", p.pid)
	}
}

// setupSplit registers public-service and private-service with their
// wrangler.toml files, as setup does, and db-service as a remote worker
// under the name its own wrangler.toml gives: the others' [[services]]
// entries reach it in the child process, unchanged.
func setupSplit(dir string, db *dbProcess) (*workers.Registry, map[string]string, error) {
	cfg, err := workers.LoadConfig(filepath.Join(dir, "db-service", "wrangler.toml"))
	if err != nil {
		return nil, nil, err
	}
	reg := workers.NewRegistry()
	names := map[string]string{"db-service": cfg.Name}
	if err := remote.Register(reg, cfg.Name, db.url, remote.WithBearerToken(db.token)); err != nil {
		reg.Close(context.Background())
		return nil, nil, err
	}
	if err := register(reg, dir, apps[1:], names); err != nil {
		reg.Close(context.Background())
		return nil, nil, err
	}
	return reg, names, nil
}

// serveDB runs db-service alone, with its wrangler.toml and D1 database,
// behind remote's handler on addr, for the process that started it with
// -split. It prints where it listens as its first line, and serves until
// stdin ends (the parent closed it, or died) or ctx does.
func serveDB(ctx context.Context, w io.Writer, stdin io.Reader, dir, addr string) (err error) {
	token := os.Getenv(tokenEnv)
	if token == "" {
		return fmt.Errorf("-serve-db: no token in $%s (-split sets it)", tokenEnv)
	}
	cfg, err := workers.LoadConfig(filepath.Join(dir, "db-service", "wrangler.toml"))
	if err != nil {
		return err
	}
	reg := workers.NewRegistry()
	defer func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, reg.Close(shut))
	}()
	if err := reg.RegisterConfig(cfg, apps[0].code()); err != nil {
		return err
	}
	if err := reg.Validate(); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, remote.AllowToken(token, remote.Allow{Service: cfg.Name, Entrypoint: "*"})))
	srv := &http.Server{
		Handler:           mux,
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c, on loopback
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "db-service on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case err = <-errc:
	case <-eof:
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, ignoreClosed(srv.Shutdown(shut)))
}
