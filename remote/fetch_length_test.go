package remote_test

import (
	"bufio"
	"io"
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

// Undeclared answers with bodies whose ContentLength is left at 0, as a
// hand-made http.Response often is.
type Undeclared struct{ workers.Entrypoint }

func (w *Undeclared) Fetch(r *http.Request) (*http.Response, error) {
	switch r.URL.Path {
	case "/nobody":
		return &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody}, nil
	case "/stream":
		// "second" only after the test read "first".
		ack, _ := workers.Get[chan struct{}](w.Env, "ACK")
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, "first\n")
			select {
			case <-ack:
			case <-time.After(10 * time.Second):
			}
			_, _ = io.WriteString(pw, "second\n")
			_ = pw.Close()
		}()
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: pr}, nil
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("not declared"))}, nil
}

// Over remote too, a body left at ContentLength 0 has an unknown length:
// it arrives whole, and streams.
func TestFetchUndeclaredLength(t *testing.T) {
	srv := newRegistry(t)
	ack := make(chan struct{})
	require.NoError(t, srv.Register("u", workers.Worker{Default: workers.New[Undeclared](), Bindings: map[string]any{"ACK": ack}}))
	u := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"u"}).Bind(workers.Service{Service: "u"})

	resp, err := u.Fetch(httptest.NewRequest(http.MethodGet, "http://u/", nil))
	require.NoError(t, err)
	assert.Equal(t, "not declared", body(t, resp))

	resp, err = u.Fetch(httptest.NewRequest(http.MethodGet, "http://u/nobody", nil))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, body(t, resp))

	resp, err = u.Fetch(httptest.NewRequest(http.MethodGet, "http://u/stream", nil))
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		assert.Equal(t, "first\n", line)
		close(ack)
	case <-time.After(5 * time.Second):
		close(ack)
		t.Fatal("the body was held back: the handler did not stream a body of unknown length")
	}
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "second\n", string(rest))
}
