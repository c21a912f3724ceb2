package workers_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// siteWorker is a worker served over HTTP. hits counts the requests one instance
// served: with a fresh instance per request it is always 1.
type siteWorker struct {
	workers.Entrypoint
	hits int
}

var errSiteDown = errors.New("site: backend is down")

func (w *siteWorker) Fetch(r *http.Request) (*http.Response, error) {
	w.hits++
	switch r.URL.Path {
	case "/hits":
		return workers.NewResponse(http.StatusOK, fmt.Sprint(w.hits)), nil
	case "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		resp := workers.NewResponse(http.StatusCreated,
			fmt.Sprintf("%s %s?%s %s from %s", r.Method, r.URL.Path, r.URL.RawQuery, body, r.Header.Get("X-Client")))
		resp.Header.Set("X-Echo", "yes")
		resp.Header.Add("X-Multi", "one")
		resp.Header.Add("X-Multi", "two")
		resp.Header.Set("Content-Type", "text/x-echo")
		return resp, nil
	case "/teapot":
		return workers.NewResponse(http.StatusTeapot, "short and stout"), nil
	case "/fail":
		return nil, errSiteDown
	}
	return workers.NewResponse(http.StatusNotFound, "no page "+r.URL.Path), nil
}

// rpcOnlyWorker has RPC methods and no Fetch.
type rpcOnlyWorker struct{ workers.Entrypoint }

func (w *rpcOnlyWorker) Ping() string { return "pong" }

// startServer serves h on a real listener for the rest of the test and returns its
// URL and a client to talk to it.
func startServer(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	return srv.URL, client
}

// sendRequest sends a request and returns the response with its body read.
func sendRequest(t *testing.T, client *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Client", "handler test")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

func TestHandlerServesFetch(t *testing.T) {
	reg := newRegistry(t, quiet())
	var instances atomic.Int64
	register(t, reg, "site", workers.Worker{Default: workers.NewFunc(func() *siteWorker {
		instances.Add(1)
		return &siteWorker{}
	})})
	url, client := startServer(t, reg.Handler("site"))

	t.Run("fresh instance per request", func(t *testing.T) {
		before := instances.Load()
		for range 3 {
			resp, body := sendRequest(t, client, http.MethodGet, url+"/hits", "")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "1", body, "an instance served more than one request")
		}
		assert.Equal(t, before+3, instances.Load())
	})

	t.Run("status, headers and body pass through", func(t *testing.T) {
		resp, body := sendRequest(t, client, http.MethodPost, url+"/echo?a=1&b=2", "payload")
		assert.Equal(t, http.StatusCreated, resp.StatusCode)
		assert.Equal(t, "POST /echo?a=1&b=2 payload from handler test", body)
		assert.Equal(t, "yes", resp.Header.Get("X-Echo"))
		assert.Equal(t, []string{"one", "two"}, resp.Header.Values("X-Multi"))
		assert.Equal(t, "text/x-echo", resp.Header.Get("Content-Type"))
		assert.Equal(t, int64(len(body)), resp.ContentLength)
	})

	t.Run("any status", func(t *testing.T) {
		resp, body := sendRequest(t, client, http.MethodGet, url+"/teapot", "")
		assert.Equal(t, http.StatusTeapot, resp.StatusCode)
		assert.Equal(t, "short and stout", body)
		resp, body = sendRequest(t, client, http.MethodGet, url+"/nowhere", "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, "no page /nowhere", body, "the worker's own 404")
	})

	t.Run("worker error is 500", func(t *testing.T) {
		resp, body := sendRequest(t, client, http.MethodGet, url+"/fail", "")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Contains(t, body, "internal error; reference = ")
		assert.NotContains(t, body, errSiteDown.Error(), "the error's text stays in the logs")

		debug := newRegistry(t, workers.WithDebugErrors(true), quiet())
		register(t, debug, "site", workers.Worker{Default: workers.New[siteWorker]()})
		durl, dclient := startServer(t, debug.Handler("site"))
		resp, body = sendRequest(t, dclient, http.MethodGet, durl+"/fail", "")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Contains(t, body, errSiteDown.Error(), "WithDebugErrors shows it")
	})
}

// TestHandlerRuntimeErrors serves what the runtime cannot, by default and
// with WithDebugErrors: only the latter says what is wrong, as the logs do.
func TestHandlerRuntimeErrors(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprintf("debug=%v", debug), func(t *testing.T) { testHandlerRuntimeErrors(t, debug) })
	}
}

func testHandlerRuntimeErrors(t *testing.T, debug bool) {
	var logs syncBuffer
	reg := newRegistry(t, workers.WithDebugErrors(debug), workers.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	register(t, reg, "site", workers.Worker{Default: workers.New[siteWorker]()})
	register(t, reg, "rpc", workers.Worker{Default: workers.New[rpcOnlyWorker]()})
	register(t, reg, "named", workers.Worker{Entrypoints: map[string]workers.Constructor{"Web": workers.New[siteWorker]()}})

	tests := []struct {
		service string
		status  int
		says    []string
	}{
		{"site", http.StatusOK, []string{"1"}},
		{"ghost", http.StatusNotFound, []string{`"ghost"`}},
		{"rpc", http.StatusNotImplemented, []string{`"rpc"`, "Fetch"}},
		{"named", http.StatusNotFound, []string{`"named"`, "default"}},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			url, client := startServer(t, reg.Handler(tc.service))
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				resp, body := sendRequest(t, client, method, url+"/hits", "")
				assert.Equal(t, tc.status, resp.StatusCode, "%s: %s", method, body)
				if tc.status == http.StatusOK {
					for _, s := range tc.says {
						assert.Contains(t, body, s)
					}
					continue
				}
				logged := loggedError(t, logs.String(), referenceIn(t, body))
				for _, s := range tc.says {
					if debug {
						assert.Contains(t, body, s)
					} else {
						assert.NotContains(t, body, s)
					}
					assert.Contains(t, logged, s)
				}
			}
		})
	}
}
