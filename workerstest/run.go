package workerstest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Connect serves the workers of server over HTTP/2 on an in-memory
// listener, through package remote's handler, and registers each of
// services (all of server's when none are named) in caller as a remote
// worker reached through it, so that caller's bindings to them cross a
// real remote hop (encoding, headers, errors, deadlines) without a port.
// Everything is closed when the test ends.
func Connect(t TB, server, caller *workers.Registry, services ...string) {
	t.Helper()
	if len(services) == 0 {
		services = hooks().Services(server.Bind(workers.Service{}))
	}
	l := newMemListener()
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(server, remote.InsecureAllowAll()))
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(l) }()
	tr := &http.Transport{DialContext: l.DialContext, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	dial(t, caller, "http://workerstest.memory", services, remote.WithHTTPClient(&http.Client{Transport: tr}))
}

func dial(t TB, caller *workers.Registry, base string, services []string, opts ...remote.ClientOption) {
	t.Helper()
	for _, s := range services {
		if err := remote.Register(caller, s, base, opts...); err != nil {
			t.Fatalf("workerstest: %v", err)
		}
	}
}

// A Mode is one way [Run] runs a test's workers.
type Mode string

const (
	// InProcess: the test's registry runs the workers itself.
	InProcess Mode = "local"
	// SerializedCalls: the same, with every call through the wire's
	// encoding (see [Serialized]).
	SerializedCalls Mode = "serialized"
	// InMemoryRemote: the workers run in a serving registry of this
	// process, reached through package remote on an in-memory listener
	// (see [Connect]).
	InMemoryRemote Mode = "remote"
	// Subprocess: the workers run in another process, this test binary
	// started again to run only this test's setup and serve it on a
	// loopback port, reached through package remote.
	Subprocess Mode = "process"
)

// A Runner is what [Run] runs subtests with: *testing.T is a
// Runner[*testing.T].
type Runner[T any] interface {
	testing.TB
	Run(name string, f func(t T)) bool
}

// DefaultModes are the modes Run uses when it is given none.
var DefaultModes = []Mode{InProcess, SerializedCalls, InMemoryRemote, Subprocess}

// serveEnv names, in a process that Run started, the test whose workers it
// serves.
const serveEnv = "WORKERSTEST_SERVE"

// Run runs test once per mode (all of [DefaultModes] when none are given),
// each as a subtest named after its mode, as weavertest runs a test
// single-process and multi-process. setup registers the workers under
// test in the registry it is given; test gets the registry to call them
// through: in InProcess and SerializedCalls modes the same one; in the
// others a registry in which each of setup's workers is remote, so the
// test's bindings (reg.Bind, a worker's Env.Service) cross a real hop.
// Setup's workers stay together: calls between them do not cross.
//
// The Subprocess mode starts the test binary again with only this test
// selected; there, Run runs setup and serves the workers instead of
// running test, so setup must not depend on anything the test did
// before it called Run.
//
// t is usually the test's *testing.T, and test a func(*testing.T,
// *workers.Registry); any [Runner] will do, such as a harness of one's own.
func Run[T Runner[T]](t T, setup func(t testing.TB, reg *workers.Registry), test func(t T, reg *workers.Registry), modes ...Mode) {
	t.Helper()
	if os.Getenv(serveEnv) == t.Name() {
		serveChild(t, setup)
		return
	}
	if len(modes) == 0 {
		modes = DefaultModes
	}
	for _, m := range modes {
		t.Run(string(m), func(t T) {
			reg := New(t)
			switch m {
			case InProcess:
				setup(t, reg)
			case SerializedCalls:
				reg = New(t, Serialized())
				setup(t, reg)
			case InMemoryRemote:
				server := New(t)
				setup(t, server)
				Connect(t, server, reg)
			case Subprocess:
				addr, services := startChild(t)
				dial(t, reg, "http://"+addr, services)
			default:
				t.Fatalf("workerstest: unknown mode %q", m)
			}
			test(t, reg)
		})
	}
}

// startChild starts this test binary again to serve the workers of the
// test that called Run (the parent of t), and returns its address and the
// services it serves. The test's end stops it.
func startChild(t testing.TB) (string, []string) {
	t.Helper()
	parent := t.Name()[:strings.LastIndex(t.Name(), "/")]
	var pattern []string
	for _, part := range strings.Split(parent, "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(pattern, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), serveEnv+"="+parent)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("workerstest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("workerstest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("workerstest: starting the serving process: %v", err)
	}
	done := make(chan struct{})
	lines := make(chan string, 1)
	var out strings.Builder
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if l := sc.Text(); !sent && strings.HasPrefix(l, listening) {
				lines <- l
				sent = true
			} else {
				out.WriteString(l + "\n")
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the child serves until its stdin closes
		select {
		case <-done:
		case <-time.After(CloseTimeout):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("workerstest: the serving process did not stop; killed:\n%s", out.String())
		}
	})
	select {
	case l := <-lines:
		f := strings.Fields(strings.TrimPrefix(l, listening))
		if len(f) == 0 {
			t.Fatalf("workerstest: the serving process said %q", l)
		}
		return f[0], f[1:]
	case <-done:
		t.Fatalf("workerstest: the serving process ended before it served:\n%s", out.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("workerstest: the serving process did not start within a minute")
	}
	return "", nil
}

const listening = "WORKERSTEST_LISTENING "

// serveChild is Run in the process startChild started: it serves setup's
// workers on a loopback port until its standard input closes.
func serveChild(t testing.TB, setup func(t testing.TB, reg *workers.Registry)) {
	reg := New(t)
	setup(t, reg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("workerstest: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, remote.InsecureAllowAll()))
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(l) }()
	services := hooks().Services(reg.Bind(workers.Service{}))
	os.Stdout.WriteString(listening + l.Addr().String() + " " + strings.Join(services, " ") + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// memListener is a net.Listener whose connections are in-memory pipes.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

// DialContext connects to the listener.
func (l *memListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, net.ErrClosed
}

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "workerstest.memory" }
