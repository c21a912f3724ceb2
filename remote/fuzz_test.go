package remote_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Target is what a fuzzed call may reach: methods of many shapes, none
// of which fails or blocks by design, so that any 5xx is the handler's
// fault.
type Target struct{ workers.Entrypoint }

func (w *Target) Add(a, b int) int                     { return a + b }
func (w *Target) Echo(v any) any                       { return v }
func (w *Target) Move(p Point, dx int) Point           { p.X += dx; return p }
func (w *Target) Scale(p *Point, k int64) *Point       { return p }
func (w *Target) Join(sep string, parts ...string) int { return len(parts) }
func (w *Target) Bytes(b []byte, f float32) int        { return len(b) }
func (w *Target) Map(m map[string][]int, u uint8) int  { return len(m) }
func (w *Target) Props() any                           { return w.Ctx.Props() }

// FuzzDecodeCall sends arbitrary bytes as the body of an RPC call, through
// the whole handler: decoding the message, then each argument into its
// parameter's type, then the call. Nothing may panic, and every answer is
// a success or a 4xx.
func FuzzDecodeCall(f *testing.F) {
	for _, seed := range [][]byte{
		callOf(f, "target", "", "Add", 1, 2),
		callOf(f, "target", "", "Echo", map[string]any{"a": []any{1, "b", nil, 1.5}}),
		callOf(f, "target", "", "Move", Point{X: 1, Tags: []string{"t"}}, 2),
		callOf(f, "target", "", "Join", "-", "a", "b"),
		callOf(f, "target", "", "Bytes", []byte{1, 2, 3}, 1.5),
		callOf(f, "target", "", "Map", map[string][]int{"k": {1}}, 300),
		cborOf(f, remote.CallRequest{Service: "target", Method: "Props", Props: cborOf(f, map[string]any{"p": 1}), Depth: 40,
			Metadata: map[string]string{"traceparent": "x"}, Args: []cbor.RawMessage{{0xf6}}, Types: []string{"int"}}),
		{0xa1, 0x64, 'a', 'r', 'g', 's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	reg := workers.NewRegistry()
	if err := reg.Register("target", workers.Worker{Default: workers.New[Target]()}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = reg.Close(f.Context()) })
	_, h := remote.NewHandler(reg, remote.InsecureAllowAll())
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, remote.CallProcedure, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cbor")
		req.ContentLength = int64(len(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %s: %s", rec.Code, strconv.Quote(string(body)), rec.Body)
		}
	})
}
