package remote_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serverDir != "" {
		_ = os.RemoveAll(serverDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// protocols accepts HTTP/1.1 and h2c, as a server on a private network
// would.
func protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// serve serves reg on a loopback port until the test ends and returns its
// base URL.
func serve(t testing.TB, reg *workers.Registry, opts ...remote.HandlerOption) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, opts...))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = protocols()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// newRegistry returns a registry closed when the test ends.
func newRegistry(t testing.TB, opts ...workers.Option) *workers.Registry {
	t.Helper()
	reg := workers.NewRegistry(opts...)
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}

// serverRegistry holds the test workers, served over the network.
func serverRegistry(t testing.TB) *workers.Registry {
	t.Helper()
	reg := newRegistry(t)
	require.NoError(t, reg.Register("calc", workers.Worker{
		Default:     workers.New[Calc](),
		Entrypoints: map[string]workers.Constructor{"Admin": workers.New[Admin]()},
	}))
	require.NoError(t, reg.Register("nofetch", workers.Worker{Default: workers.New[NoFetch]()}))
	return reg
}

// dial returns a calling registry in which service names the remote worker
// of the same name at base.
func dial(t testing.TB, base string, services []string, opts ...remote.ClientOption) *workers.Registry {
	t.Helper()
	reg := newRegistry(t)
	for _, s := range services {
		require.NoError(t, remote.Register(reg, s, base, opts...))
	}
	return reg
}

// remoteCalc serves the test workers and returns a binding to calc's
// default entrypoint through the network.
func remoteCalc(t testing.TB) (*workers.Binding, *workers.Registry) {
	t.Helper()
	srv := serverRegistry(t)
	caller := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"calc", "nofetch"})
	return caller.Bind(workers.Service{Service: "calc"}), caller
}

// The serving process of the process tests is internal/testserver, built
// once, without the race detector, so that it runs at full speed while the
// tests run under it.
var (
	buildOnce sync.Once
	serverDir string
	serverBin string
	serverErr error
)

func buildServer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			serverErr = fmt.Errorf("the process tests build their server with the go tool: %w", err)
			return
		}
		if serverDir, serverErr = os.MkdirTemp("", "remote-testserver"); serverErr != nil {
			return
		}
		serverBin = filepath.Join(serverDir, "testserver")
		out, err := exec.Command(goTool, "build", "-o", serverBin, "./internal/testserver").CombinedOutput()
		if err != nil {
			serverErr = fmt.Errorf("go build ./internal/testserver: %w\n%s", err, out)
		}
	})
	require.NoError(t, serverErr)
	return serverBin
}

// process is a serving process started by a test.
type process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startServer starts a serving process on addr ("127.0.0.1:0" for any
// port) with its database at dbPath, and waits until it listens. The test's
// end kills it.
func startServer(t *testing.T, addr, dbPath string) *process {
	t.Helper()
	cmd := exec.Command(buildServer(t), "-addr", addr, "-db", dbPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = stdin.Close()
		close(p.done)
	}()
	t.Cleanup(p.kill)

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		a, ok := strings.CutPrefix(strings.TrimSpace(s), "LISTENING ")
		require.True(t, ok, "the server process did not start: %q", s)
		p.addr = a
	case <-time.After(30 * time.Second):
		p.kill()
		<-line
		t.Fatal("the server process did not start within 30s")
	}
	return p
}

// kill kills the process at once, as a crash would, and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) url() string { return "http://" + p.addr }

// waitFile waits for a file the server process writes.
func waitFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, 20*time.Second, 5*time.Millisecond, "%s never appeared", filepath.Base(path))
}

// isUnavailable reports whether err is ErrUnavailable and not a context's
// error: the call failed before its deadline.
func isUnavailable(err error) bool {
	return errors.Is(err, workers.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}
