package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"connectrpc.com/connect"
	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/bench"
	"github.com/seed-29c11ff2/workers/remote"
)

// h2c serves and dials unencrypted HTTP/2 on loopback, as a private network
// would.
func h2cServer(tb testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, &http.Client{Transport: tr}
}

// BenchmarkRemote compares Add through a binding to a worker served on
// loopback by package remote (a call through the Transport's session: one
// message each way on an open HTTP/2 stream) with the floor under unary
// calls: a bare connect-go unary call with the same messages and codec to a
// handler that adds. The _parallel64 variants run 64 callers at once; stub
// calls Add on a stub of an RpcTarget the served worker returned.
func BenchmarkRemote(b *testing.B) {
	ctx := context.Background()
	b.Run("binding", func(b *testing.B) {
		bd := remoteAdder(b)
		b.ReportAllocs()
		for b.Loop() {
			if sum, err := workers.Call[int](ctx, bd, "Add", 1, 2); err != nil || sum != 3 {
				b.Fatal(sum, err)
			}
		}
	})
	b.Run("stub", func(b *testing.B) {
		s, err := workers.Call[*workers.Stub](ctx, remoteAdder(b), "Target")
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		b.ReportAllocs()
		for b.Loop() {
			if sum, err := workers.Call[int](ctx, s, "Add", 1, 2); err != nil || sum != 3 {
				b.Fatal(sum, err)
			}
		}
	})
	b.Run("raw_connect", func(b *testing.B) {
		client := rawAdder(b)
		b.ReportAllocs()
		for b.Loop() {
			rawAdd(b, ctx, client)
		}
	})
	b.Run("binding_parallel64", func(b *testing.B) {
		bd := remoteAdder(b)
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if sum, err := workers.Call[int](ctx, bd, "Add", 1, 2); err != nil || sum != 3 {
					b.Error(sum, err)
					return
				}
			}
		})
	})
	b.Run("raw_connect_parallel64", func(b *testing.B) {
		client := rawAdder(b)
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rawAdd(b, ctx, client)
			}
		})
	})
}

// remoteAdder serves bench.Adder on loopback and returns a binding to it
// through a Transport.
func remoteAdder(b *testing.B) *workers.Binding {
	ctx := context.Background()
	served := workers.NewRegistry()
	require.NoError(b, served.Register("adder", workers.Worker{Default: workers.New[bench.Adder]()}))
	b.Cleanup(func() { served.Close(ctx) })
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(served, remote.InsecureAllowAll()))
	srv, client := h2cServer(b, mux)

	caller := workers.NewRegistry()
	require.NoError(b, remote.Register(caller, "adder", srv.URL, remote.WithHTTPClient(client)))
	b.Cleanup(func() { caller.Close(ctx) })
	return caller.Bind(workers.Service{Service: "adder"})
}

// rawAdder serves a bare connect-go unary handler that adds and returns a
// client of it.
func rawAdder(b *testing.B) *connect.Client[remote.CallRequest, remote.CallResponse] {
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
	srv, hc := h2cServer(b, mux)
	return connect.NewClient[remote.CallRequest, remote.CallResponse](hc,
		srv.URL+remote.CallProcedure, connect.WithCodec(remote.Codec{}), connect.WithCompressMinBytes(16<<10))
}

func rawAdd(b *testing.B, ctx context.Context, client *connect.Client[remote.CallRequest, remote.CallResponse]) {
	one, _ := cbor.Marshal(1)
	two, _ := cbor.Marshal(2)
	resp, err := client.CallUnary(ctx, connect.NewRequest(&remote.CallRequest{
		Service: "adder", Method: "Add", Depth: 1, Args: []cbor.RawMessage{one, two}, Types: []string{"int", "int"},
	}))
	if err != nil {
		b.Error(err)
		return
	}
	var sum int
	if err := cbor.Unmarshal(resp.Msg.Result, &sum); err != nil || sum != 3 {
		b.Error(sum, err)
	}
}

// BenchmarkRemotePipe compares a chain of three dependent calls to a worker
// served on loopback (Target, then Next on its result, then Add on that)
// made with workers.Pipe, which sends the three at once on the session,
// with the same calls made one after another, each waiting for the result
// the next is made on. Both close what they made, as a caller would.
func BenchmarkRemotePipe(b *testing.B) {
	ctx := context.Background()
	bd := remoteAdder(b)
	b.Run("unpiped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t, err := workers.Call[*workers.Stub](ctx, bd, "Target")
			if err != nil {
				b.Fatal(err)
			}
			n, err := workers.Call[*workers.Stub](ctx, t, "Next")
			if err != nil {
				b.Fatal(err)
			}
			if sum, err := workers.Call[int](ctx, n, "Add", 1, 2); err != nil || sum != 3 {
				b.Fatal(sum, err)
			}
			n.Close()
			t.Close()
		}
	})
	b.Run("piped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t := workers.Pipe(ctx, bd, "Target")
			n := workers.Pipe(ctx, t, "Next")
			if sum, err := workers.Call[int](ctx, n, "Add", 1, 2); err != nil || sum != 3 {
				b.Fatal(sum, err)
			}
			n.Close()
			t.Close()
		}
	})
}
