package workers_test

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
)

// undeclared answers with a body whose ContentLength is left at 0, as a
// hand-made http.Response often is.
type undeclared struct{ workers.Entrypoint }

func (w *undeclared) Fetch(r *http.Request) (*http.Response, error) {
	switch r.URL.Path {
	case "/nobody":
		return &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody}, nil
	case "/stream":
		// "second" only after the test read "first": a path that waited
		// for the whole body would never deliver "first".
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

// A response whose ContentLength is 0 but whose body is neither nil nor
// http.NoBody has an unknown length, as net/http takes it: Binding.Fetch
// says -1, and Binding.ServeHTTP streams it.
func TestFetchUndeclaredLength(t *testing.T) {
	reg := workers.NewRegistry()
	t.Cleanup(func() { _ = reg.Close(t.Context()) })
	ack := make(chan struct{})
	require.NoError(t, reg.Register("u", workers.Worker{Default: workers.New[undeclared](), Bindings: map[string]any{"ACK": ack}}))
	b := reg.Bind(workers.Service{Service: "u"})

	resp, err := b.Fetch(httptest.NewRequest(http.MethodGet, "http://u/", nil))
	require.NoError(t, err)
	assert.Equal(t, int64(-1), resp.ContentLength)
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "not declared", string(data))
	require.NoError(t, resp.Body.Close())

	resp, err = b.Fetch(httptest.NewRequest(http.MethodGet, "http://u/nobody", nil))
	require.NoError(t, err)
	assert.Equal(t, int64(0), resp.ContentLength, "http.NoBody is a declared empty body")
	require.NoError(t, resp.Body.Close())

	srv := httptest.NewServer(reg.Handler("u"))
	t.Cleanup(srv.Close)
	client := srv.Client()
	get := func(path string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp = get("/")
	data, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "not declared", string(data))
	require.NoError(t, resp.Body.Close())

	resp = get("/stream")
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
		t.Fatal("the body was held back: ServeHTTP did not stream a body of unknown length")
	}
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "second\n", string(rest))
}
