package remote_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestFetch(t *testing.T) {
	srv := serverRegistry(t)
	base := serve(t, srv, remote.AllowToken("peer-token", remote.Allow{Service: "*", Entrypoint: "*"}))
	caller := dial(t, base, []string{"calc", "nofetch"}, remote.WithBearerToken("peer-token"))
	calc := caller.Bind(workers.Service{Service: "calc", Props: map[string]any{"who": "frontend"}})
	ctx := remote.WithMetadata(context.Background(), "traceparent", "00-abc-def-01")

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://example.com/path?q=1", strings.NewReader("hello"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer end-user")
	req.Header.Set("Workers-Remote-Props", "forged")
	resp, err := calc.Fetch(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "yes", resp.Header.Get("X-Calc"))
	assert.Empty(t, resp.Header.Get("X-Leaked"), "the transport's headers do not reach the worker")
	assert.Same(t, req, resp.Request)
	assert.Equal(t, `POST example.com /path?q=1 "hello" depth=1 props=map[who:frontend] trace=00-abc-def-01 auth=Bearer end-user`, body(t, resp))

	// A worker's own 404 is a response, not an error.
	resp, err = calc.Fetch(httptest.NewRequest(http.MethodGet, "http://calc/missing", nil))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "no such page", body(t, resp))

	// A Binding is an http.RoundTripper, remote or not.
	client := &http.Client{Transport: calc}
	resp, err = client.Get("http://calc/x")
	require.NoError(t, err)
	assert.Contains(t, body(t, resp), "GET calc /x")

	_, err = caller.Bind(workers.Service{Service: "nofetch"}).Fetch(httptest.NewRequest(http.MethodGet, "http://x/", nil))
	assert.ErrorIs(t, err, workers.ErrNoFetchHandler)
	_, err = caller.Bind(workers.Service{Service: "calc", Entrypoint: "Nope"}).Fetch(httptest.NewRequest(http.MethodGet, "http://x/", nil))
	assert.ErrorIs(t, err, workers.ErrEntrypointNotFound)

	// A worker's Env.Service reaches a remote Fetch too.
	require.NoError(t, caller.Register("front", workers.Worker{Default: workers.New[Proxy](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}}}))
	resp, err = caller.Bind(workers.Service{Service: "front"}).Fetch(httptest.NewRequest(http.MethodGet, "http://front/via", nil))
	require.NoError(t, err)
	assert.Contains(t, body(t, resp), "GET front /via \"\" depth=2")
}

// Proxy passes its request on to CALC.
type Proxy struct{ workers.Entrypoint }

func (w *Proxy) Fetch(r *http.Request) (*http.Response, error) {
	return w.Env.Service("CALC").Fetch(r)
}

// Both bodies stream: the worker answers each piece of the request body
// before the next is sent.
func TestFetchStreamsBothWays(t *testing.T) {
	calc, _ := remoteCalc(t)
	pr, pw := io.Pipe()
	req := httptest.NewRequest(http.MethodPost, "http://calc/stream", pr)
	req = req.WithContext(context.Background())
	resp, err := calc.Fetch(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for _, piece := range []string{"one\n", "two\n", "three\n"} {
		_, err := pw.Write([]byte(piece))
		require.NoError(t, err)
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "echo:"+piece, line)
	}
	require.NoError(t, pw.Close())
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, rest)
}

// A server that does not serve the handler where the Transport looks is
// unavailable, not a worker's answer.
func TestFetchNoHandler(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.Protocols = protocols()
	srv.Start()
	defer srv.Close()
	caller := dial(t, srv.URL, []string{"calc"})
	_, err := caller.Bind(workers.Service{Service: "calc"}).Fetch(httptest.NewRequest(http.MethodGet, "http://calc/", nil))
	assert.True(t, isUnavailable(err), "%v", err)
	_, err = caller.Bind(workers.Service{Service: "calc"}).Call(context.Background(), "Add", 1, 2)
	assert.True(t, isUnavailable(err), "%v", err)
}

// Leaky is a worker whose Fetch fails with a secret in its error.
type Leaky struct{ workers.Entrypoint }

var errLeak = errors.New("db password=hunter2 rejected")

func (w *Leaky) Fetch(*http.Request) (*http.Response, error) { return nil, errLeak }

// A worker's failing Fetch reaches the calling Transport as the same error,
// and a plain HTTP client (allowed to call, but not a Transport) is shown
// no error text (#12).
func TestFetchErrorTextOnlyForTheTransport(t *testing.T) {
	srv := newRegistry(t)
	require.NoError(t, srv.Register("leaky", workers.Worker{Default: workers.New[Leaky]()}))
	base := serve(t, srv, remote.AllowToken("peer-token", remote.Allow{Service: "*", Entrypoint: "*"}),
		remote.WithErrors(remote.Sentinel("leak", errLeak)))
	caller := dial(t, base, []string{"leaky"}, remote.WithBearerToken("peer-token"), remote.WithErrors(remote.Sentinel("leak", errLeak)))
	_, err := caller.Bind(workers.Service{Service: "leaky"}).Fetch(httptest.NewRequest(http.MethodGet, "http://leaky/", nil))
	assert.ErrorIs(t, err, errLeak, "the Transport's caller gets the error itself")

	req, err := http.NewRequest(http.MethodGet, base+remote.FetchPath, nil)
	require.NoError(t, err)
	req.Header.Set("Workers-Remote-Authorization", "Bearer peer-token")
	req.Header.Set("Workers-Remote-Service", "leaky")
	req.Header.Set("Workers-Remote-Url", "http://leaky/")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	text := body(t, resp)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, text)
	assert.NotContains(t, text, "hunter2")
}
