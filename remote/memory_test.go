package remote_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// nulls is a CBOR array of n nulls: n+5 bytes.
func nulls(n int) []byte {
	out := make([]byte, 5, n+5)
	out[0] = 0x9a
	binary.BigEndian.PutUint32(out[1:], uint32(n))
	return append(out, bytes.Repeat([]byte{0xf6}, n)...)
}

// bigMap is a CBOR map of n distinct short text keys to 1.
func bigMap(n int) []byte {
	out := make([]byte, 5, n*12)
	out[0] = 0xba
	binary.BigEndian.PutUint32(out[1:], uint32(n))
	for i := range n {
		k := fmt.Sprintf("%08x", i)
		out = append(out, 0x68)
		out = append(out, k...)
		out = append(out, 0x01)
	}
	return out
}

// Hostile messages cost the server about their size, not what their
// values would take decoded: a call's names are checked before anything
// else is decoded, and no argument is decoded beyond what its parameter's
// type and a budget allow. The server is this process; what it allocates
// per request is measured with runtime.MemStats.
func TestHostileMessagesCostTheirSize(t *testing.T) {
	reg := newRegistry(t)
	require.NoError(t, reg.Register("target", workers.Worker{Default: workers.New[Target]()}))
	require.NoError(t, reg.Register("billing", workers.Worker{Default: workers.New[Guarded]()}))
	base := serve(t, reg, remote.AllowToken("t0ken", remote.Allow{Service: "target", Methods: []string{"Add", "Echo", "Join"}}))
	header := cborHeader.Clone()
	header.Set("Workers-Remote-Authorization", "Bearer t0ken")

	n, pairs := 30_000_000, 2_000_000
	if raceEnabled {
		n, pairs = 8_000_000, 500_000 // -race is slow; 8M nulls still pass the budget of an any
	}
	tests := []struct {
		name   string
		msg    func() []byte
		status int
		want   string
	}{
		{"30M null arguments to a service it may not call", func() []byte { return rawMap(t, "service", "billing", "method", "Touch", "args", nulls(n)) }, http.StatusBadRequest, "at most 65536 arguments"},
		{"one argument of 30M nulls to a service it may not call", func() []byte {
			return rawMap(t, "service", "billing", "method", "Touch", "args", append([]byte{0x81}, nulls(n)...))
		}, http.StatusForbidden, "may not call"},
		{"props of 30M nulls to a service it may not call", func() []byte { return rawMap(t, "service", "billing", "method", "Touch", "props", nulls(n)) }, http.StatusForbidden, "may not call"},
		{"30M nulls for Add(int, int)", func() []byte {
			return rawMap(t, "service", "target", "method", "Add", "args", append(append([]byte{0x82}, nulls(n)...), 0x02))
		}, http.StatusBadRequest, "argument 0 (int)"},
		{"30M nulls for Echo(any)", func() []byte {
			return rawMap(t, "service", "target", "method", "Echo", "args", append([]byte{0x81}, nulls(n)...))
		}, http.StatusBadRequest, "argument 0 (interface {}): decoded, the arguments and props would take more than"},
		{"30M nulls for Join(string, ...string)", func() []byte { return rawMap(t, "service", "target", "method", "Join", "args", nulls(n)) }, http.StatusBadRequest, "at most 65536 arguments"},
		{"30M types", func() []byte { return rawMap(t, "service", "target", "method", "Add", "types", nulls(n)) }, http.StatusBadRequest, "at most 65536 argument types"},
		{"2M metadata pairs", func() []byte { return rawMap(t, "service", "target", "method", "Add", "metadata", bigMap(pairs)) }, http.StatusBadRequest, "at most 1024 metadata pairs"},
		{"props of 30M nulls to a method it may call", func() []byte { return rawMap(t, "service", "target", "method", "Echo", "props", nulls(n)) }, http.StatusBadRequest, "props: decoded, the arguments and props would take more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.msg()
			require.Less(t, len(msg), remote.MaxMessageBytes)
			before := touched.Load()
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			status, body := post(t, base+remote.CallProcedure, header, bytes.NewReader(msg))
			runtime.ReadMemStats(&m1)
			allocated := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("%d-byte message: %d: %.1f MB allocated", len(msg), status, float64(allocated)/1e6)
			assert.Equal(t, tt.status, status, body)
			assert.True(t, strings.Contains(body, tt.want), "%s", body)
			// Reading the message into connect's growing buffer, and a copy of
			// its parts: a few times its size (2 to 5 times, as the buffer
			// grows by doubling), not the gigabyte its values would take.
			assert.Less(t, allocated, uint64(8*len(msg)+16<<20), "allocated per request")
			assert.Equal(t, before, touched.Load())
		})
	}
}

// What the budget admits: JSON-like values of a few MiB into an
// interface, which take tens of times their size decoded.
func TestBudgetAdmitsJSONLikeValues(t *testing.T) {
	calc, _ := remoteCalc(t)
	list := make([]any, 20000)
	for i := range list {
		list[i] = map[string]any{"id": int64(i), "name": fmt.Sprint("item ", i), "tags": []any{"a", "b"}}
	}
	got, err := calc.Call(t.Context(), "Echo", list)
	require.NoError(t, err)
	assert.Len(t, got, len(list))
}
