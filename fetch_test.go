package workers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// web is an HTTP worker: a counter that must not survive a request, and
// a few routes.
type web struct {
	workers.Entrypoint
	hits int
}

type stream struct {
	ack  chan struct{} // the test read the first chunk
	runs atomic.Int64
}

func (w *web) Fetch(r *http.Request) (*http.Response, error) {
	w.hits++
	if s, ok := workers.Get[*stream](w.Env, "STREAM"); ok {
		s.runs.Add(1)
	}
	switch r.URL.Path {
	case "/hits":
		return workers.NewResponse(http.StatusOK, strconv.Itoa(w.hits)), nil
	case "/ctx":
		c, isCtx := r.Context().(*workers.Ctx)
		resp := workers.NewResponse(http.StatusOK, fmt.Sprint(r.Context().Value(ctxKey("k"))))
		resp.Header.Set("X-Is-Ctx", strconv.FormatBool(isCtx && c == w.Ctx))
		resp.Header.Set("X-Depth", strconv.Itoa(w.Ctx.Depth()))
		return resp, nil
	case "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		resp := workers.NewResponse(http.StatusCreated, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		resp.Header.Set("X-Echo", r.Header.Get("X-Test"))
		return resp, nil
	case "/json":
		return workers.JSONResponse(http.StatusOK, map[string]int{"n": 1})
	case "/stream":
		s, _ := workers.Get[*stream](w.Env, "STREAM")
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, "first\n")
			<-s.ack
			_, _ = io.WriteString(pw, "second\n")
			_ = pw.Close()
		}()
		return &http.Response{
			StatusCode:    http.StatusOK,
			Header:        http.Header{"Content-Type": {"text/plain"}},
			Body:          pr,
			ContentLength: -1,
		}, nil
	case "/nil":
		return nil, nil
	case "/fail":
		return nil, errSentinel
	case "/panic":
		panic("fetch panicked")
	case "/rpc":
		sum, err := workers.Call[int](r.Context(), w.Env.Service("CALC"), "Add", 1, 2)
		if err != nil {
			return nil, err
		}
		return workers.NewResponse(http.StatusOK, strconv.Itoa(sum)), nil
	}
	return workers.NewResponse(http.StatusNotFound, "no route "+r.URL.Path), nil
}

func (w *web) Add(a, b int) int { return a + b }

func newWeb(t *testing.T, opts ...workers.Option) (*workers.Registry, *stream) {
	t.Helper()
	s := &stream{ack: make(chan struct{})}
	reg := newRegistry(t, opts...)
	register(t, reg, "calc", workers.Worker{Default: workers.New[calc]()})
	register(t, reg, "web", workers.Worker{
		Default:  workers.New[web](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}},
		Bindings: map[string]any{"STREAM": s},
	})
	return reg, s
}

func get(t *testing.T, ctx context.Context, b *workers.Binding, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://web"+path, nil)
	require.NoError(t, err)
	resp, err := b.Fetch(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestFetch(t *testing.T) {
	reg, _ := newWeb(t)
	b := bind(reg, "web")

	for range 3 {
		resp, body := get(t, t.Context(), b, "/hits")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "1", body, "Fetch runs on a fresh instance")
	}

	resp, body := get(t, context.WithValue(t.Context(), ctxKey("k"), "v"), b, "/ctx")
	assert.Equal(t, "v", body, "the request's context values reach the callee")
	assert.Equal(t, "true", resp.Header.Get("X-Is-Ctx"), "the callee's request context is its Ctx")
	assert.Equal(t, "1", resp.Header.Get("X-Depth"))
	assert.NotNil(t, resp.Request)

	resp, body = get(t, t.Context(), b, "/json")
	assert.JSONEq(t, `{"n":1}`, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	_, body = get(t, t.Context(), b, "/rpc")
	assert.Equal(t, "3", body, "Fetch can call other workers with the request context")
}

func TestFetchErrors(t *testing.T) {
	reg, s := newWeb(t)
	register(t, reg, "nofetch", workers.Worker{Default: workers.New[calc]()})
	register(t, reg, "named", workers.Worker{Entrypoints: map[string]workers.Constructor{"Web": workers.New[web]()}})

	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name  string
		svc   workers.Service
		ctx   context.Context
		path  string
		err   error
		parts []string
	}{
		{"no fetch handler", workers.Service{Service: "nofetch"}, t.Context(), "/", workers.ErrNoFetchHandler, []string{`"nofetch"`}},
		{"unknown service", workers.Service{Service: "ghost"}, t.Context(), "/", workers.ErrServiceNotFound, []string{`"ghost"`}},
		{"no default", workers.Service{Service: "named"}, t.Context(), "/", workers.ErrEntrypointNotFound, []string{`"named"`}},
		{"unknown entrypoint", workers.Service{Service: "web", Entrypoint: "Nope"}, t.Context(), "/", workers.ErrEntrypointNotFound, []string{`"Nope"`}},
		{"callee error", workers.Service{Service: "web"}, t.Context(), "/fail", errSentinel, nil},
		{"nil response", workers.Service{Service: "web"}, t.Context(), "/nil", nil, []string{"neither a response nor an error"}},
		{"canceled", workers.Service{Service: "web"}, canceled, "/hits", context.Canceled, []string{"Fetch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.runs.Load()
			req, err := http.NewRequestWithContext(tc.ctx, http.MethodGet, "http://web"+tc.path, nil)
			require.NoError(t, err)
			resp, err := reg.Bind(tc.svc).Fetch(req)
			require.Error(t, err)
			assert.Nil(t, resp)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
			}
			for _, p := range tc.parts {
				assert.Contains(t, err.Error(), p)
			}
			if tc.err == context.Canceled {
				assert.Equal(t, before, s.runs.Load(), "Fetch ran with a canceled context")
			}
		})
	}

	_, err := bind(reg, "web").Fetch(nil)
	require.ErrorIs(t, err, workers.ErrInvalidArgument)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://web/panic", nil)
	require.NoError(t, err)
	_, err = bind(reg, "web").Fetch(req)
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "fetch panicked", pe.Value)
	assert.NotEmpty(t, pe.Stack)

	_, body := get(t, t.Context(), bind(reg, "web"), "/hits")
	assert.Equal(t, "1", body, "the registry keeps serving after a panic")

	var nilB *workers.Binding
	_, err = nilB.Fetch(req)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
}

func TestBindingAsRoundTripper(t *testing.T) {
	reg, _ := newWeb(t)
	var _ http.RoundTripper = bind(reg, "web")
	client := &http.Client{Transport: bind(reg, "web")}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://web/echo?x=1", strings.NewReader("payload"))
	require.NoError(t, err)
	req.Header.Set("X-Test", "header")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "POST /echo?x=1 payload", string(body))
	assert.Equal(t, "header", resp.Header.Get("X-Echo"))

	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, "http://web/hits", nil)
	require.NoError(t, err)
	resp2, err := client.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	body, err = io.ReadAll(resp2.Body)
	require.NoError(t, err)
	assert.Equal(t, "1", string(body))

	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, "http://web/fail", nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.ErrorIs(t, err, errSentinel, "http.Client keeps the error's identity")
}

// TestServeHTTP serves a worker on a real listener, by default and with
// WithDebugErrors: a failed Fetch's response says what failed only in the
// latter, and in both carries the reference ID under which it is logged.
func TestServeHTTP(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprintf("debug=%v", debug), func(t *testing.T) { testServeHTTP(t, debug) })
	}
}

func testServeHTTP(t *testing.T, debug bool) {
	var logs syncBuffer
	reg, s := newWeb(t, workers.WithDebugErrors(debug), workers.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	register(t, reg, "nofetch", workers.Worker{Default: workers.New[calc]()})
	mux := http.NewServeMux()
	mux.Handle("/", reg.Handler("web"))
	mux.Handle("/nofetch/", http.StripPrefix("/nofetch", reg.Handler("nofetch")))
	mux.Handle("/ghost/", http.StripPrefix("/ghost", reg.Handler("ghost")))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{}
	defer client.CloseIdleConnections()

	do := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Test", "via server")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(data)
	}

	// failedAs checks the answer to a failed Fetch: the reference ID, what
	// failed (want) only with WithDebugErrors, and both in the log.
	failedAs := func(t *testing.T, body, want string) {
		t.Helper()
		ref := referenceIn(t, body)
		if debug {
			assert.Contains(t, body, want, "WithDebugErrors shows the error")
		} else {
			assert.NotContains(t, body, want, "the error's text stays in the logs")
		}
		assert.Contains(t, loggedError(t, logs.String(), ref), want, "the log has the error under the reference ID")
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string // the body holds it (a failed Fetch's: see failedAs)
		header                   string // X-Echo
		failed                   bool   // Fetch failed: the runtime answered
	}{
		{"fresh instance", http.MethodGet, "/hits", "", http.StatusOK, "1", "", false},
		{"fresh again", http.MethodGet, "/hits", "", http.StatusOK, "1", "", false},
		{"echo", http.MethodPut, "/echo?a=b", "data", http.StatusCreated, "PUT /echo?a=b data", "via server", false},
		{"not found route", http.MethodGet, "/missing", "", http.StatusNotFound, "no route /missing", "", false},
		{"nested rpc", http.MethodGet, "/rpc", "", http.StatusOK, "3", "", false},
		{"callee error", http.MethodGet, "/fail", "", http.StatusInternalServerError, "sentinel", "", true},
		{"panic", http.MethodGet, "/panic", "", http.StatusInternalServerError, "fetch panicked", "", true},
		{"no fetch", http.MethodGet, "/nofetch/x", "", http.StatusNotImplemented, "nofetch", "", true},
		{"unknown service", http.MethodGet, "/ghost/x", "", http.StatusNotFound, "ghost", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(tc.method, tc.path, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.failed {
				failedAs(t, body, tc.want)
			} else {
				assert.Contains(t, body, tc.want)
			}
			assert.Equal(t, tc.header, resp.Header.Get("X-Echo"))
		})
	}

	t.Run("streamed body", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/stream", nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		r := bufio.NewReader(resp.Body)
		// The worker writes "second" only after the test has read "first":
		// a server that buffered the body would never send "first".
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "first\n", line)
		close(s.ack)
		rest, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, "second\n", string(rest))
	})

	t.Run("closed", func(t *testing.T) {
		require.NoError(t, reg.Close(context.Background()))
		resp, body := do(http.MethodGet, "/hits", "")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		failedAs(t, body, "closed")
	})
}

func TestFetchResponseHelpers(t *testing.T) {
	resp := workers.NewResponse(http.StatusTeapot, "tea")
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "418 I'm a teapot", resp.Status)
	assert.Equal(t, int64(3), resp.ContentLength)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "tea", string(body))

	resp, err = workers.JSONResponse(http.StatusOK, []int{1})
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "[1]", string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	_, err = workers.JSONResponse(http.StatusOK, make(chan int))
	require.Error(t, err)
}

// closeRecorder is a request body that records Close.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error {
	c.closed.Store(true)
	return nil
}

// http.RoundTripper: "RoundTrip must always close the body, including on
// errors"; http.Client relies on it.
func TestRoundTripClosesBodyOnError(t *testing.T) {
	reg, _ := newWeb(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		svc  string
		path string
	}{
		{"unknown service", t.Context(), "ghost", "/"},
		{"callee error", t.Context(), "web", "/fail"},
		{"canceled", canceled, "web", "/hits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := &closeRecorder{Reader: strings.NewReader("data")}
			req, err := http.NewRequestWithContext(tc.ctx, http.MethodPost, "http://web"+tc.path, body)
			require.NoError(t, err)
			resp, err := (&http.Client{Transport: bind(reg, tc.svc)}).Do(req)
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.True(t, body.closed.Load(), "the request body was not closed")
		})
	}
}

// On success the request body is closed once the response body is, since
// the worker may stream one into the other.
func TestRoundTripClosesBodyWithResponse(t *testing.T) {
	reg, _ := newWeb(t)
	body := &closeRecorder{Reader: strings.NewReader("data")}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://web/hits", body)
	require.NoError(t, err)
	resp, err := bind(reg, "web").RoundTrip(req)
	require.NoError(t, err)
	assert.False(t, body.closed.Load(), "closed before the response was read")
	require.NoError(t, resp.Body.Close())
	assert.True(t, body.closed.Load(), "the request body was not closed with the response")
}
