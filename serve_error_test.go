package workers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// quiet is a logger option for tests that make errors on purpose.
func quiet() workers.Option { return workers.WithLogger(slog.New(slog.DiscardHandler)) }

var referenceRE = regexp.MustCompile(`reference = ([a-z2-7]{26})`)

// referenceIn returns the reference ID of an error response's body.
func referenceIn(t *testing.T, body string) string {
	t.Helper()
	m := referenceRE.FindStringSubmatch(body)
	require.NotNil(t, m, "no reference ID in %q", body)
	return m[1]
}

// logLineWith returns the line of logs that holds ref.
func logLineWith(t *testing.T, logs, ref string) string {
	t.Helper()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, ref) {
			return line
		}
	}
	t.Fatalf("no log line has reference %s:\n%s", ref, logs)
	return ""
}

// loggedError returns the error logged, as JSON, under reference ref.
func loggedError(t *testing.T, logs, ref string) string {
	t.Helper()
	var entry struct{ Error string }
	require.NoError(t, json.Unmarshal([]byte(logLineWith(t, logs, ref)), &entry))
	return entry.Error
}

const secret = "password=hunter2"

// leaky is a worker whose failures hold a secret, as a database driver's
// errors may.
type leaky struct{ workers.Entrypoint }

func (w *leaky) Fetch(r *http.Request) (*http.Response, error) {
	switch r.URL.Path {
	case "/error":
		return nil, fmt.Errorf("db %s rejected", secret)
	case "/panic":
		panic("connect with " + secret)
	case "/wrapped":
		// The worker passes on the failure of another's Fetch.
		return w.Env.Service("SELF").Fetch(httptest.NewRequestWithContext(r.Context(), http.MethodGet, "http://self/error", nil))
	}
	return workers.NewResponse(http.StatusOK, "ok"), nil
}

// A failed Fetch served over HTTP answers 500 with a reference ID and not
// the error's text; the log has the text, the stack of a panic, and the
// same ID. Registry.Handler and Binding.ServeHTTP answer alike.
func TestServeHTTPHidesErrors(t *testing.T) {
	var logs syncBuffer
	reg := newRegistry(t, workers.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	register(t, reg, "leaky", workers.Worker{
		Default:  workers.New[leaky](),
		Services: []workers.Service{{Binding: "SELF", Service: "leaky"}},
	})
	handlers := map[string]http.Handler{
		"Registry.Handler":    reg.Handler("leaky"),
		"Binding.ServeHTTP":   reg.Bind(workers.Service{Service: "leaky", Entrypoint: "default"}),
		"behind a middleware": http.StripPrefix("/app", reg.Handler("leaky")),
	}
	for name, h := range handlers {
		for _, path := range []string{"/error", "/panic", "/wrapped"} {
			t.Run(name+path, func(t *testing.T) {
				if name == "behind a middleware" {
					path = "/app" + path
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://leaky"+path, nil))
				body := rec.Body.String()
				assert.Equal(t, http.StatusInternalServerError, rec.Code)
				assert.NotContains(t, body, "hunter2")
				assert.NotContains(t, body, "goroutine", "no stack")
				assert.True(t, strings.HasPrefix(body, "internal error; reference = "), "Workers' words: %q", body)
				assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))

				var entry map[string]any
				require.NoError(t, json.Unmarshal([]byte(logLineWith(t, logs.String(), referenceIn(t, body))), &entry))
				assert.Equal(t, "ERROR", entry["level"])
				assert.Equal(t, "leaky", entry["service"])
				assert.Equal(t, http.StatusInternalServerError, int(entry["status"].(float64)))
				assert.Contains(t, entry["error"], secret, "the log has the details")
				if strings.HasSuffix(path, "/panic") {
					assert.Contains(t, entry["stack"], "goroutine", "and a panic's stack")
				}
			})
		}
	}

	t.Run("each failure its own ID", func(t *testing.T) {
		refs := map[string]bool{}
		for range 20 {
			rec := httptest.NewRecorder()
			reg.Handler("leaky").ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://leaky/error", nil))
			refs[referenceIn(t, rec.Body.String())] = true
		}
		assert.Len(t, refs, 20)
	})
}

// With WithDebugErrors the response holds the error and a panic's stack
// after the reference ID, for development.
func TestServeHTTPDebugErrors(t *testing.T) {
	var logs bytes.Buffer
	reg := newRegistry(t, workers.WithDebugErrors(true), workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	register(t, reg, "leaky", workers.Worker{Default: workers.New[leaky]()})
	for path, want := range map[string][]string{
		"/error": {"db " + secret + " rejected"},
		"/panic": {"connect with " + secret, "goroutine"},
	} {
		rec := httptest.NewRecorder()
		reg.Handler("leaky").ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://leaky"+path, nil))
		body := rec.Body.String()
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		ref := referenceIn(t, body)
		for _, w := range want {
			assert.Contains(t, body, w)
		}
		assert.Contains(t, logs.String(), ref)
	}
}
