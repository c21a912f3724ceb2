package remote_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// rawRequest writes head (a request without its body) on a fresh HTTP/1.1
// connection to base and returns the status line of the answer, or fails
// if none comes within 5s: the body it announces is never sent.
func rawRequest(t *testing.T, base, head string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, head)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err, "no answer while the announced body was not sent")
	return strings.TrimSpace(line)
}

// A request that is refused before its body matters is answered at once,
// without waiting for that body, and its connection closed: a slow or
// stalled client cannot hold the answer back.
func TestRefusedWithoutReadingBody(t *testing.T) {
	base := serve(t, guardedRegistry(t), remote.AllowToken("t0ken", remote.Allow{Service: "todo-app"}))
	tests := []struct {
		name, head, want string
	}{
		{"call without credentials", "POST " + remote.CallProcedure + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: 100000\r\n\r\n", "401"},
		{"call with a wrong token, chunked", "POST " + remote.CallProcedure + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nWorkers-Remote-Authorization: Bearer nope\r\nTransfer-Encoding: chunked\r\n\r\n", "401"},
		{"fetch without credentials", "POST " + remote.FetchPath + " HTTP/1.1\r\nHost: x\r\nWorkers-Remote-Service: todo-app\r\nContent-Length: 100\r\n\r\n", "401"},
		{"fetch beyond its credential", "POST " + remote.FetchPath + " HTTP/1.1\r\nHost: x\r\nWorkers-Remote-Authorization: Bearer t0ken\r\nWorkers-Remote-Service: billing\r\nContent-Length: 100\r\n\r\n", "403"},
		{"fetch without a URL", "POST " + remote.FetchPath + " HTTP/1.1\r\nHost: x\r\nWorkers-Remote-Authorization: Bearer t0ken\r\nWorkers-Remote-Service: todo-app\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := touched.Load()
			line := rawRequest(t, base, tt.head)
			assert.True(t, strings.HasPrefix(line, "HTTP/1.1 "+tt.want+" "), "got %q", line)
			assert.Equal(t, before, touched.Load())
		})
	}
}

// Ticker streams ticks, and echoes a slow request body.
type Ticker struct{ workers.Entrypoint }

// Wait returns after d.
func (w *Ticker) Wait(ctx context.Context, d time.Duration) (string, error) {
	select {
	case <-time.After(d):
		return "waited", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (w *Ticker) Fetch(r *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	go func() {
		if r.URL.Path == "/echo" {
			_, err := io.Copy(pw, r.Body)
			_ = pw.CloseWithError(err)
			return
		}
		for i := range 5 {
			time.Sleep(tick)
			fmt.Fprintf(pw, "tick %d\n", i)
		}
		_ = pw.Close()
	}()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: pr, ContentLength: -1}, nil
}

const (
	tick    = 100 * time.Millisecond
	timeout = 2 * tick // the server's read and write timeouts: less than the 5 ticks a stream takes
)

// The server configuration the package documents, with read, write and
// idle timeouts, still serves what outlasts them once the request is
// allowed: a Fetch whose bodies stream both ways for longer than the
// timeouts, and a call that runs longer.
func TestServerTimeoutsLetStreamsThrough(t *testing.T) {
	reg := newRegistry(t)
	require.NoError(t, reg.Register("ticker", workers.Worker{Default: workers.New[Ticker]()}))
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(reg, remote.AllowToken("t0ken", remote.Allow{Service: "ticker"})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = protocols()
	srv.Config.ReadHeaderTimeout = timeout
	srv.Config.ReadTimeout = timeout
	srv.Config.WriteTimeout = timeout
	srv.Config.IdleTimeout = 10 * timeout
	srv.Start()
	t.Cleanup(srv.Close)
	ticker := dial(t, srv.URL, []string{"ticker"}, remote.WithBearerToken("t0ken")).Bind(workers.Service{Service: "ticker"})

	t.Run("a streamed response", func(t *testing.T) {
		resp, err := ticker.Fetch(httptest.NewRequest(http.MethodGet, "http://ticker/", nil))
		require.NoError(t, err)
		assert.Equal(t, "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n", body(t, resp))
	})

	t.Run("a streamed request", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for i := range 5 {
				time.Sleep(tick)
				fmt.Fprintf(pw, "up %d\n", i)
			}
			_ = pw.Close()
		}()
		resp, err := ticker.Fetch(httptest.NewRequest(http.MethodPost, "http://ticker/echo", pr).WithContext(context.Background()))
		require.NoError(t, err)
		assert.Equal(t, "up 0\nup 1\nup 2\nup 3\nup 4\n", body(t, resp))
	})

	t.Run("a streamed response within a deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		resp, err := ticker.Fetch(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://ticker/", nil))
		require.NoError(t, err)
		assert.Equal(t, "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n", body(t, resp))
	})

	t.Run("a long call", func(t *testing.T) {
		got, err := workers.Call[string](context.Background(), ticker, "Wait", 5*tick)
		require.NoError(t, err)
		assert.Equal(t, "waited", got)
	})
}
