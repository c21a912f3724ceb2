package bench_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// The peers carry the same Add over their own stacks, in-process. gRPC and
// connect-go use one tiny fixed-size binary codec, so that what is measured
// is the RPC machinery, not a serializer.

type addReq struct{ A, B int64 }
type addRes struct{ Sum int64 }

type fixedCodec struct{}

func (fixedCodec) Name() string { return "fixed" }

func (fixedCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case *addReq:
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, uint64(v.A))
		binary.LittleEndian.PutUint64(b[8:], uint64(v.B))
		return b, nil
	case *addRes:
		return binary.LittleEndian.AppendUint64(nil, uint64(v.Sum)), nil
	}
	return nil, errors.New("fixed codec: unknown message")
}

func (fixedCodec) Unmarshal(b []byte, v any) error {
	switch v := v.(type) {
	case *addReq:
		if len(b) != 16 {
			return errors.New("fixed codec: bad request")
		}
		v.A, v.B = int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		return nil
	case *addRes:
		if len(b) != 8 {
			return errors.New("fixed codec: bad response")
		}
		v.Sum = int64(binary.LittleEndian.Uint64(b))
		return nil
	}
	return errors.New("fixed codec: unknown message")
}

// net/rpc over net.Pipe.

type Arith struct{}

type ArithArgs struct{ A, B int }

func (Arith) Add(args ArithArgs, reply *int) error {
	*reply = args.A + args.B
	return nil
}

func netRPCClient(tb testing.TB) *rpc.Client {
	srv := rpc.NewServer()
	if err := srv.Register(Arith{}); err != nil {
		tb.Fatal(err)
	}
	client, server := net.Pipe()
	go srv.ServeConn(server)
	c := rpc.NewClient(client)
	tb.Cleanup(func() { c.Close() })
	return c
}

// gRPC over bufconn, with a hand-written service descriptor (no protoc).

var grpcDesc = grpc.ServiceDesc{
	ServiceName: "bench.Adder",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Add",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req addReq
			if err := dec(&req); err != nil {
				return nil, err
			}
			return &addRes{Sum: req.A + req.B}, nil
		},
	}},
}

func grpcConn(tb testing.TB) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ForceServerCodec(fixedCodec{}))
	srv.RegisterService(&grpcDesc, struct{}{})
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(fixedCodec{})))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return conn
}

// connect-go over an HTTP server listening in memory.

func connectClient(tb testing.TB) *connect.Client[addReq, addRes] {
	mux := http.NewServeMux()
	mux.Handle("/bench.Adder/Add", connect.NewUnaryHandler("/bench.Adder/Add",
		func(_ context.Context, req *connect.Request[addReq]) (*connect.Response[addRes], error) {
			return connect.NewResponse(&addRes{Sum: req.Msg.A + req.Msg.B}), nil
		}, connect.WithCodec(fixedCodec{})))
	lis := newMemListener()
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = lis
	srv.Start()
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return lis.dial() },
		MaxIdleConnsPerHost: 64,
	}}
	tb.Cleanup(func() {
		hc.CloseIdleConnections()
		srv.Close()
	})
	return connect.NewClient[addReq, addRes](hc, srv.URL+"/bench.Adder/Add", connect.WithCodec(fixedCodec{}))
}

// memListener is a net.Listener whose connections are in-memory pipes.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
