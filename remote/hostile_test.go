package remote_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

func cborOf(t testing.TB, v any) []byte {
	t.Helper()
	data, err := remote.Codec{}.Marshal(v)
	require.NoError(t, err)
	return data
}

func callOf(t testing.TB, service, entrypoint, method string, args ...any) []byte {
	t.Helper()
	req := remote.CallRequest{Service: service, Entrypoint: entrypoint, Method: method, Depth: 1}
	for _, a := range args {
		req.Args = append(req.Args, cbor.RawMessage(cborOf(t, a)))
	}
	return cborOf(t, req)
}

// post sends a raw request, as a hostile or foreign peer would.
func post(t *testing.T, url string, header http.Header, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var cborHeader = http.Header{"Content-Type": {"application/cbor"}}

// Raw requests get the statuses a connect client would see: 401 without
// credentials, 403 beyond them.
func TestStatuses(t *testing.T) {
	base := serve(t, guardedRegistry(t), remote.AllowToken("t0ken", remote.Allow{Service: "todo-app"}))
	url := base + remote.CallProcedure
	with := func(token string) http.Header {
		h := cborHeader.Clone()
		h.Set("Workers-Remote-Authorization", "Bearer "+token)
		return h
	}
	before := touched.Load()
	status, _ := post(t, url, cborHeader, bytes.NewReader(callOf(t, "todo-app", "", "Touch")))
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = post(t, url, with("wrong"), bytes.NewReader(callOf(t, "todo-app", "", "Touch")))
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = post(t, url, with("t0ken"), bytes.NewReader(callOf(t, "todo-app", "AdminEntrypoint", "Touch")))
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = post(t, base+remote.FetchPath, http.Header{"Workers-Remote-Service": {"billing"}, "Workers-Remote-Authorization": {"Bearer t0ken"}}, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, before, touched.Load())

	status, body := post(t, url, with("t0ken"), bytes.NewReader(callOf(t, "todo-app", "", "Touch")))
	assert.Equal(t, http.StatusOK, status, body)
}

// Malformed and hostile requests get 4xx, never reach a worker by accident,
// and leave the server serving.
func TestHostileRequests(t *testing.T) {
	calc, _ := remoteCalc(t)
	srv := serverRegistry(t)
	base := serve(t, srv, remote.InsecureAllowAll())
	call := base + remote.CallProcedure
	fetch := base + remote.FetchPath
	fetchHeader := func(kv ...string) http.Header {
		h := http.Header{"Workers-Remote-Service": {"calc"}, "Workers-Remote-Url": {"http://calc/"}}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		url    string
		header http.Header
		body   []byte
		status int // 0: any 4xx
	}{
		{"not CBOR", call, cborHeader, []byte("hello"), http.StatusBadRequest},
		{"empty", call, cborHeader, nil, http.StatusBadRequest},
		{"an empty message", call, cborHeader, cborOf(t, map[string]any{}), http.StatusNotFound}, // no such service
		{"wrong shape", call, cborHeader, cborOf(t, 42), http.StatusBadRequest},
		{"trailing bytes", call, cborHeader, append(callOf(t, "calc", "", "Add", 1, 2), 0x00), http.StatusBadRequest},
		{"a huge array length", call, cborHeader, []byte{0xa1, 0x64, 'a', 'r', 'g', 's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"a huge byte string length", call, cborHeader, []byte{0xa1, 0x65, 'p', 'r', 'o', 'p', 's', 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"deep nesting", call, cborHeader, append([]byte{0xa1, 0x65, 'p', 'r', 'o', 'p', 's'}, bytes.Repeat([]byte{0x81}, 100000)...), http.StatusBadRequest},
		{"an argument that is not CBOR", call, cborHeader, rawMap(t, "service", "calc", "method", "Add", "args", []byte{0x82, 0x1c, 0x01}), http.StatusBadRequest},
		{"an argument of another type", call, cborHeader, callOf(t, "calc", "", "Add", "x", 2), http.StatusBadRequest},
		{"props that are not CBOR", call, cborHeader, rawMap(t, "service", "calc", "method", "Add", "props", []byte{0xff}), http.StatusBadRequest},
		{"an unknown service", call, cborHeader, callOf(t, "ghost", "", "Add"), http.StatusNotFound},
		{"an unknown method", call, cborHeader, callOf(t, "calc", "", "Nope"), http.StatusNotFound},
		{"an unexported method", call, cborHeader, callOf(t, "calc", "", "db"), http.StatusNotFound},
		{"Fetch over RPC", call, cborHeader, callOf(t, "calc", "", "Fetch"), http.StatusBadRequest},
		{"JSON", call, http.Header{"Content-Type": {"application/json"}}, []byte(`{"service":"calc"}`), http.StatusBadRequest},
		{"no content type", call, nil, []byte("x"), http.StatusUnsupportedMediaType},
		{"another path", base + remote.ServicePath + "Other", cborHeader, nil, http.StatusNotFound},
		{"fetch without a URL", fetch, http.Header{"Workers-Remote-Service": {"calc"}}, nil, http.StatusBadRequest},
		{"fetch with bad props", fetch, fetchHeader("Workers-Remote-Props", "!!"), nil, http.StatusBadRequest},
		{"fetch with bad metadata", fetch, fetchHeader("Workers-Remote-Metadata", "AAAA"), nil, http.StatusBadRequest},
		{"fetch with a bad depth", fetch, fetchHeader("Workers-Remote-Depth", "deep"), nil, http.StatusBadRequest},
		{"fetch with a bad timeout", fetch, fetchHeader("Workers-Remote-Timeout-Ms", "-1"), nil, http.StatusBadRequest},
		{"fetch of an unknown service", fetch, fetchHeader("Workers-Remote-Service", "ghost"), nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, tt.url, tt.header, bytes.NewReader(tt.body))
			if tt.status != 0 {
				assert.Equal(t, tt.status, status, body)
			}
			assert.True(t, status >= 400 && status < 500, "status %d: %s", status, body)
		})
	}

	t.Run("a body over the limit", func(t *testing.T) {
		status, _ := post(t, call, cborHeader, io.LimitReader(zeros{}, remote.MaxMessageBytes+2<<20))
		assert.True(t, status >= 400 && status < 500, "status %d", status)
	})

	// Still serving.
	sum, err := workers.Call[int](context.Background(), calc, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	status, body := post(t, call, cborHeader, bytes.NewReader(callOf(t, "calc", "", "Add", 1, 2)))
	assert.Equal(t, http.StatusOK, status)
	var resp remote.CallResponse
	require.NoError(t, remote.Codec{}.Unmarshal([]byte(body), &resp))
	assert.Equal(t, "int", resp.Type)
	assert.True(t, strings.Contains(string(resp.Result), "\x03"))
}

// rawMap encodes a CBOR map of keys and values, a []byte value as the raw
// (maybe malformed) CBOR it is.
func rawMap(t *testing.T, kv ...any) []byte {
	out := []byte{0xa0 + byte(len(kv)/2)}
	for _, v := range kv {
		if raw, ok := v.([]byte); ok {
			out = append(out, raw...)
			continue
		}
		out = append(out, cborOf(t, v)...)
	}
	return out
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
