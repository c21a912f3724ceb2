package remote_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/fxamacker/cbor/v2"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// BenchmarkRemoteAdd calls Add(1, 2) through a binding to a worker served
// on loopback: the whole path, registry to registry.
func BenchmarkRemoteAdd(b *testing.B) {
	calc, _ := remoteCalc(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if sum, err := workers.Call[int](ctx, calc, "Add", 1, 2); err != nil || sum != 3 {
			b.Fatal(sum, err)
		}
	}
}

// BenchmarkRawConnectAdd is the floor BenchmarkRemoteAdd is measured
// against: a bare connect-go unary call with the same messages and codec,
// over the same kind of loopback HTTP/2 connection, to a handler that adds.
func BenchmarkRawConnectAdd(b *testing.B) {
	mux := http.NewServeMux()
	mux.Handle(remote.CallProcedure, connect.NewUnaryHandler(remote.CallProcedure,
		func(_ context.Context, req *connect.Request[remote.CallRequest]) (*connect.Response[remote.CallResponse], error) {
			var x, y int
			if err := cbor.Unmarshal(req.Msg.Args[0], &x); err != nil {
				return nil, err
			}
			if err := cbor.Unmarshal(req.Msg.Args[1], &y); err != nil {
				return nil, err
			}
			res, err := cbor.Marshal(x + y)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(&remote.CallResponse{Result: res, Type: "int"}), nil
		}, connect.WithCodec(remote.Codec{}), connect.WithCompressMinBytes(16<<10)))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = protocols()
	srv.Start()
	b.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	b.Cleanup(tr.CloseIdleConnections)
	client := connect.NewClient[remote.CallRequest, remote.CallResponse](&http.Client{Transport: tr},
		srv.URL+remote.CallProcedure, connect.WithCodec(remote.Codec{}), connect.WithCompressMinBytes(16<<10))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		one, _ := cbor.Marshal(1)
		two, _ := cbor.Marshal(2)
		resp, err := client.CallUnary(ctx, connect.NewRequest(&remote.CallRequest{
			Service: "calc", Method: "Add", Depth: 1, Args: []cbor.RawMessage{one, two}, Types: []string{"int", "int"},
		}))
		if err != nil {
			b.Fatal(err)
		}
		var sum int
		if err := cbor.Unmarshal(resp.Msg.Result, &sum); err != nil || sum != 3 {
			b.Fatal(sum, err)
		}
	}
}
