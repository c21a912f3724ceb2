package remote_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/seed-29c11ff2/workers/remote"
)

// Only the exact paths of the handler are routed: a path that merely ends
// in /Call or /Fetch is not found, and reaches no worker.
func TestStrictRoutes(t *testing.T) {
	// The handler itself, as a catch-all mount or a router would hand it
	// any path (ServeMux would first redirect a path like //Call).
	_, h := remote.NewHandler(guardedRegistry(t), remote.InsecureAllowAll())
	call := callOf(t, "todo-app", "", "Touch")
	serve := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(call))
		req.Header.Set("Content-Type", "application/cbor")
		req.Header.Set("Workers-Remote-Service", "todo-app")
		req.Header.Set("Workers-Remote-Url", "http://todo-app/")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	nearMisses := []string{
		remote.ServicePath + "x/Call",
		remote.ServicePath + "x/Fetch",
		remote.ServicePath + "/Call",
		remote.ServicePath + "/Fetch",
		remote.ServicePath + "Call/",
		remote.ServicePath + "Fetch/",
		remote.ServicePath + "Fetch/x",
		remote.ServicePath + "call",
		remote.ServicePath + "fetch",
		remote.ServicePath + "XCall",
		remote.ServicePath + "PreFetch",
		"/Call",
		"/Fetch",
		"/other/Call",
		"/other/Fetch",
		strings.TrimSuffix(remote.ServicePath, "/") + "Call",
	}
	for _, path := range nearMisses {
		t.Run(path, func(t *testing.T) {
			before := touched.Load()
			rec := serve(path)
			assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
			assert.Equal(t, before, touched.Load(), "a near-miss path reached a worker")
		})
	}

	// The exact paths still work.
	before := touched.Load()
	rec := serve(remote.CallProcedure)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = serve(remote.FetchPath)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, before+2, touched.Load())
}

// The same token given twice is a mistake that would silently drop the
// first permissions: NewHandler refuses it loudly, as http.ServeMux refuses
// a pattern registered twice. So does a certificate identity.
func TestDuplicateCredentialsPanic(t *testing.T) {
	reg := guardedRegistry(t)
	assert.PanicsWithValue(t,
		"remote: NewHandler: AllowToken was given the same token twice: give each caller its own token, and list all of its Allows in one AllowToken",
		func() {
			remote.NewHandler(reg,
				remote.AllowToken("same", remote.Allow{Service: "todo-app"}),
				remote.AllowToken("same", remote.Allow{Service: "billing"}))
		})
	assert.PanicsWithValue(t,
		`remote: NewHandler: AllowCertificate was given the identity "ops.internal" twice: list all of its Allows in one AllowCertificate`,
		func() {
			remote.NewHandler(reg,
				remote.AllowCertificate("ops.internal", remote.Allow{Service: "todo-app"}),
				remote.AllowCertificate("ops.internal", remote.Allow{Service: "billing"}))
		})
	assert.NotPanics(t, func() {
		remote.NewHandler(reg,
			remote.AllowToken("one", remote.Allow{Service: "todo-app"}),
			remote.AllowToken("two", remote.Allow{Service: "todo-app"}),
			remote.AllowCertificate("one", remote.Allow{Service: "todo-app"}))
	})
}
