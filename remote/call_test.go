package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/gentest"
	"github.com/seed-29c11ff2/workers/remote"
	"github.com/seed-29c11ff2/workers/transport"
)

func TestCallValues(t *testing.T) {
	calc, _ := remoteCalc(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		method string
		args   []any
		want   any
	}{
		{"ints", "Add", []any{1, 2}, 3},
		{"int64 converts exactly", "Add", []any{int64(20), uint8(22)}, 42},
		{"variadic", "Sum", []any{1, 2, 3, 4}, 10},
		{"variadic none", "Sum", nil, 0},
		// Without a result type (workers.Call[R] or a generated client has
		// one), a struct arrives JSON-like.
		{"struct", "Move", []any{Point{X: 1, Y: 2, Tags: []string{"a"}}, 3}, map[string]any{"X": int64(4), "Y": int64(2), "Tags": []any{"a", "moved"}}},
		{"pointer", "Scale", []any{&Point{X: 2, Y: 3}, 2}, map[string]any{"X": int64(4), "Y": int64(6), "Tags": nil}},
		{"nil pointer", "Scale", []any{nil, 2}, nil},
		{"any keeps a string", "Echo", []any{"hi"}, "hi"},
		{"any keeps an int", "Echo", []any{7}, 7},
		{"any keeps a float", "Echo", []any{1.5}, 1.5},
		{"any keeps bytes", "Echo", []any{[]byte{1, 2}}, []byte{1, 2}},
		{"any keeps a time", "Echo", []any{time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}, time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)},
		{"any: a map is JSON-like", "Echo", []any{map[string]any{"a": []any{"b", true}}}, map[string]any{"a": []any{"b", true}}},
		{"any: nil", "Echo", []any{nil}, nil},
		{"no result", "Nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := calc.Call(ctx, tt.method, tt.args...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCallTyped(t *testing.T) {
	calc, _ := remoteCalc(t)
	ctx := context.Background()

	sum, err := workers.Call[int](ctx, calc, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)

	wide, err := workers.Call[int64](ctx, calc, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(3), wide)

	p, err := workers.Call[Point](ctx, calc, "Move", Point{X: 1}, 1)
	require.NoError(t, err)
	assert.Equal(t, Point{X: 2, Tags: []string{"moved"}}, p)

	pp, err := workers.Call[*Point](ctx, calc, "Scale", &Point{X: 2, Y: 3}, 2)
	require.NoError(t, err)
	assert.Equal(t, &Point{X: 4, Y: 6}, pp)

	pp, err = workers.Call[*Point](ctx, calc, "Scale", nil, 2)
	require.NoError(t, err)
	assert.Nil(t, pp)

	_, err = workers.Call[string](ctx, calc, "Add", 1, 2)
	assert.ErrorIs(t, err, workers.ErrInvalidResult)

	_, err = workers.Call[int](ctx, calc, "Nothing")
	assert.ErrorIs(t, err, workers.ErrInvalidResult, "as in-process: a method without a result has none to give")
}

// The arguments a caller keeps are its own, as in-process.
func TestCallCopies(t *testing.T) {
	calc, _ := remoteCalc(t)
	in := Point{X: 1, Tags: []string{"a"}}
	out, err := workers.Call[Point](context.Background(), calc, "Move", in, 1)
	require.NoError(t, err)
	out.Tags[0] = "changed"
	assert.Equal(t, Point{X: 1, Tags: []string{"a"}}, in)
}

func TestArgumentErrors(t *testing.T) {
	calc, _ := remoteCalc(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		method string
		args   []any
		want   string
	}{
		{"inexact number", "Add", []any{1, 1.5}, "argument 1"},
		{"wrong type", "Add", []any{"one", 2}, "argument 0"},
		{"nil for an int", "Add", []any{nil, 2}, "argument 0"},
		{"too few", "Add", []any{1}, "got 1 arguments, want 2"},
		{"too many", "Add", []any{1, 2, 3}, "got 3 arguments, want 2"},
		{"a channel", "Add", []any{1, make(chan int)}, "argument 1: a value of type chan int"},
		{"a context", "Echo", []any{ctx}, "argument 0: a value of type context.backgroundCtx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := calc.Call(ctx, tt.method, tt.args...)
			require.Error(t, err)
			assert.ErrorIs(t, err, workers.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	// Funcs and Bindings cross by reference (session_test.go); a channel
	// cannot cross at all, inside a value either.
	_, err := calc.Call(ctx, "Echo", map[string]any{"c": make(chan int)})
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "argument 0: [c]: a value of type chan int")
	_, err = calc.Call(ctx, "Channel")
	assert.ErrorIs(t, err, workers.ErrInvalidArgument, "a result that cannot cross")
	assert.Contains(t, err.Error(), "result")
}

// Every sentinel a callee's error wraps survives the wire, with the
// message; registered error types and sentinels too; others keep their
// message.
func TestCalleeErrors(t *testing.T) {
	calc, _ := remoteCalc(t)
	ctx := context.Background()
	for name, want := range errs {
		t.Run(name, func(t *testing.T) {
			_, err := calc.Call(ctx, "Fail", name)
			require.Error(t, err)
			if _, ok := want.(*QuotaError); !ok {
				assert.ErrorIs(t, err, want)
			}
			assert.Equal(t, "calc failed: "+want.Error(), err.Error())
		})
	}
	t.Run("registered type", func(t *testing.T) {
		_, err := calc.Call(ctx, "Fail", "Quota")
		var q *QuotaError
		require.ErrorAs(t, err, &q)
		assert.Equal(t, &QuotaError{Limit: 7, Used: 9}, q)
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := calc.Call(ctx, "Fail", "other")
		require.Error(t, err)
		assert.Equal(t, "plain failure: other", err.Error())
		assert.NotErrorIs(t, err, workers.ErrUnavailable)
	})
	t.Run("panic", func(t *testing.T) {
		_, err := calc.Call(ctx, "Panic")
		var pe *workers.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "boom", pe.Value)
		assert.Nil(t, pe.Stack, "the callee's stack stays in its process")
		assert.Contains(t, err.Error(), "boom")
	})
}

// The runtime's own errors about a call come back as in-process.
func TestRuntimeErrors(t *testing.T) {
	_, caller := remoteCalc(t)
	ctx := context.Background()
	bind := func(service, entrypoint string) *workers.Binding {
		return caller.Bind(workers.Service{Service: service, Entrypoint: entrypoint})
	}
	tests := []struct {
		name    string
		binding *workers.Binding
		method  string
		want    error
		message string
	}{
		{"method", bind("calc", ""), "Ad", workers.ErrMethodNotFound, `The RPC receiver does not implement the method "Ad". Did you mean "Add"?`},
		{"unexported", bind("calc", ""), "db", workers.ErrMethodNotFound, `"db"`},
		{"promoted from Entrypoint", bind("calc", ""), "WaitUntil", workers.ErrMethodNotFound, `"WaitUntil"`},
		{"reserved", bind("calc", ""), "Fetch", workers.ErrReservedMethod, "'Fetch' is a reserved method"},
		{"entrypoint", bind("calc", "Nope"), "Add", workers.ErrEntrypointNotFound, `named entrypoint "Nope"`},
		{"boundary", bind("calc", "Admin"), "Add", workers.ErrMethodNotFound, `entrypoint "Admin"`},
		{"no default", bind("nofetch", "Admin"), "Ping", workers.ErrEntrypointNotFound, `"Admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.binding.Call(ctx, tt.method)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.message)
		})
	}

	// A service the serving side does not have.
	srv := serverRegistry(t)
	base := serve(t, srv, remote.InsecureAllowAll())
	other := dial(t, base, []string{"ghost", "calc"})
	_, err := other.Bind(workers.Service{Service: "ghost"}).Call(ctx, "Add", 1, 2)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.Contains(t, err.Error(), `"ghost"`)

	// A closed serving registry.
	require.NoError(t, srv.Close(ctx))
	_, err = other.Bind(workers.Service{Service: "calc"}).Call(ctx, "Add", 1, 2)
	assert.ErrorIs(t, err, workers.ErrClosed)
	assert.ErrorIs(t, err, workers.ErrUnavailable)

	// A closed calling registry refuses before the network.
	require.NoError(t, caller.Close(ctx))
	_, err = bind("calc", "").Call(ctx, "Add", 1, 2)
	assert.ErrorIs(t, err, workers.ErrClosed)
}

func TestPropsTravel(t *testing.T) {
	_, caller := remoteCalc(t)
	ctx := context.Background()
	props := map[string]any{"clientId": "frontend-worker", "permissions": []any{"read", "write"}}
	admin := caller.Bind(workers.Service{Service: "calc", Entrypoint: "Admin", Props: props})
	got, err := workers.Call[string](ctx, admin, "Reset")
	require.NoError(t, err)
	assert.Equal(t, "reset by map[clientId:frontend-worker permissions:[read write]]", got)

	type Identity struct {
		ClientID string `json:"clientId"`
	}
	b := caller.Bind(workers.Service{Service: "calc", Props: Identity{ClientID: "x"}})
	p, err := b.Call(ctx, "Props")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"clientId": "x"}, p, "struct props arrive JSON-like, for workers.PropsAs")

	p, err = caller.Bind(workers.Service{Service: "calc"}).Call(ctx, "Props")
	require.NoError(t, err)
	assert.Nil(t, p)
}

func TestMetadata(t *testing.T) {
	calc, _ := remoteCalc(t)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := remote.WithMetadata(context.Background(), "traceparent", tp)
	ctx = remote.WithMetadata(ctx, "TraceState", "rojo=00f067aa0ba902b7")
	got, err := workers.Call[map[string]string](ctx, calc, "Meta")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"traceparent": tp, "tracestate": "rojo=00f067aa0ba902b7"}, got)

	got, err = workers.Call[map[string]string](context.Background(), calc, "Meta")
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Nil(t, remote.Metadata(context.Background()))
}

// hopPair serves two registries that call each other over the network, as
// two processes would: a's ping calls b's pong, which calls a's ping, and
// so on.
func hopPair(t *testing.T) *workers.Binding {
	a, b := newRegistry(t), newRegistry(t)
	require.NoError(t, a.Register("ping", workers.Worker{Default: workers.New[Hop](),
		Services: []workers.Service{{Binding: "NEXT", Service: "pong"}}}))
	require.NoError(t, b.Register("pong", workers.Worker{Default: workers.New[Hop](),
		Services: []workers.Service{{Binding: "NEXT", Service: "ping"}}}))
	require.NoError(t, remote.Register(a, "pong", serve(t, b, remote.InsecureAllowAll())+"/"))
	require.NoError(t, remote.Register(b, "ping", serve(t, a, remote.InsecureAllowAll())))
	return a.Bind(workers.Service{Service: "ping"})
}

// The depth limit counts every invocation of a chain, in whichever process
// it runs: 32 succeed, the 33rd fails.
func TestDepthSpansProcesses(t *testing.T) {
	hop := hopPair(t)
	ctx := context.Background()
	depth, err := workers.Call[int](ctx, hop, "Hop", workers.DefaultMaxDepth-1)
	require.NoError(t, err)
	assert.Equal(t, workers.DefaultMaxDepth, depth)

	_, err = workers.Call[int](ctx, hop, "Hop", workers.DefaultMaxDepth)
	assert.ErrorIs(t, err, workers.ErrDepthExceeded)

	// Metadata rides along every hop.
	_, err = workers.Call[int](remote.WithMetadata(ctx, "traceparent", "x"), hop, "Hop", 3)
	require.NoError(t, err)
}

func TestDeadlineAndCancel(t *testing.T) {
	calc, _ := remoteCalc(t)
	for _, tt := range []struct {
		name string
		want error
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"deadline", context.DeadlineExceeded, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
		{"cancel", context.Canceled, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			started, canceled := make(chan struct{}), make(chan error, 1)
			slowStarted.Store(tt.name, started)
			slowCanceled.Store(tt.name, canceled)
			ctx, cancel := tt.ctx()
			defer cancel()
			go func() {
				<-started
				if tt.want == context.Canceled {
					cancel()
				}
			}()
			_, err := calc.Call(ctx, "Slow", tt.name)
			assert.ErrorIs(t, err, tt.want)
			assert.NotErrorIs(t, err, workers.ErrUnavailable)
			select {
			case err := <-canceled:
				assert.Error(t, err, "the callee's context ended too")
			case <-time.After(20 * time.Second):
				t.Fatal("the callee's context was never canceled")
			}
		})
	}
}

// WaitUntil tasks run where the worker runs, and the serving registry's
// Close waits for them.
func TestWaitUntilDrainsOnServingSide(t *testing.T) {
	srv := serverRegistry(t)
	caller := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"calc"})
	release := make(chan struct{})
	later.Store(t.Name(), release)
	got, err := workers.Call[string](context.Background(), caller.Bind(workers.Service{Service: "calc"}), "Later", t.Name())
	require.NoError(t, err)
	assert.Equal(t, "accepted", got)

	closed := make(chan error, 1)
	go func() { closed <- srv.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a WaitUntil task was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-closed)
	_, done := laterDone.Load(t.Name())
	assert.True(t, done)
}

func TestSizeLimit(t *testing.T) {
	calc, _ := remoteCalc(t)
	ctx := context.Background()
	_, err := calc.Call(ctx, "Echo", make([]byte, remote.MaxMessageBytes))
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Regexp(t, `Serialized RPC arguments or return values are limited to 32MiB, but the size of this value was: \d+ bytes\.$`, err.Error())

	_, err = calc.Call(ctx, "Big", remote.MaxMessageBytes+1)
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "result: Serialized RPC arguments or return values are limited to 32MiB, but the size of this value was: 33554438 bytes.")

	// Just under the limit passes. (The race detector makes moving 32 MiB
	// through HTTP/2 take seconds: there, a smaller value stands in.)
	n := remote.MaxMessageBytes - 16
	if raceEnabled {
		n = 1 << 20
	}
	big, err := workers.Call[[]byte](ctx, calc, "Big", n)
	require.NoError(t, err)
	assert.Len(t, big, n)
}

// Code written for in-process bindings works unchanged: a worker's
// Env.Service and generated typed clients.
func TestBindingsUnchanged(t *testing.T) {
	srv := newRegistry(t)
	require.NoError(t, srv.Register("calc", workers.Worker{Default: workers.New[gentest.Calc]()}))
	caller := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"calc"})
	require.NoError(t, caller.Register("front", workers.Worker{Default: workers.New[Front](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}}}))
	require.NoError(t, caller.Validate())
	ctx := gentest.WithGreeting(context.Background(), "hi")

	client := gentest.NewCalcClient(caller.Bind(workers.Service{Service: "calc"}))
	sum, err := client.Add(ctx, 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	joined, err := client.Join(ctx, "-", "a", "b", "c")
	require.NoError(t, err)
	assert.Equal(t, "a-b-c", joined)
	moved, err := client.Move(ctx, gentest.Point{X: 1, Tags: []string{"t"}}, 2)
	require.NoError(t, err)
	assert.Equal(t, gentest.Point{X: 3, Tags: []string{"t", "moved"}}, moved)
	looked, err := client.Lookup(ctx, map[string][]int{"k": {1, 2}}, "k")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, looked)
	// ctx values do not cross processes; metadata does.
	greeting, err := client.Greeting(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, "hello bob", greeting)

	_, err = client.Sqrt(ctx, -4)
	assert.ErrorIs(t, err, gentest.ErrNegative)
	var neg *gentest.NegativeError
	require.ErrorAs(t, err, &neg)
	assert.Equal(t, -4.0, neg.Value)
	assert.ErrorIs(t, client.Fail(ctx), io.ErrUnexpectedEOF)
	var pe *workers.PanicError
	assert.ErrorAs(t, client.Panic(ctx), &pe)
	applied, err := client.Apply(ctx, func(x int) int { return x * 3 }, 7)
	require.NoError(t, err, "a callback crosses by reference and runs in the caller's process")
	assert.Equal(t, 21, applied)

	// A worker's Env.Service reaches the remote worker.
	got, err := workers.Call[[]int](ctx, caller.Bind(workers.Service{Service: "front"}), "AddVia", 20, 22)
	require.NoError(t, err)
	assert.Equal(t, []int{42, 2}, got, "the remote invocation is the second of the chain")
}

func init() {
	remote.RegisterSentinel("gentest.ErrNegative", gentest.ErrNegative)
	remote.RegisterSentinel("io.ErrUnexpectedEOF", io.ErrUnexpectedEOF)
	remote.RegisterError[*gentest.NegativeError]("gentest.NegativeError")
}

func TestRegisterAndDial(t *testing.T) {
	reg := newRegistry(t)
	for _, bad := range []string{"", "ftp://host", "http://", "http://h/?q=1", "://x"} {
		assert.Error(t, remote.Register(reg, "x", bad), bad)
	}
	require.NoError(t, remote.Register(reg, "x", "127.0.0.1:1"))
	assert.ErrorIs(t, remote.Register(reg, "x", "127.0.0.1:1"), workers.ErrInvalidWorker)

	dial := remote.Dialer()
	_, err := dial("svc", "ftp://x")
	assert.Error(t, err)
	a, err := dial("a", "127.0.0.1:1")
	require.NoError(t, err)
	b, err := dial("b", "http://127.0.0.1:1/")
	require.NoError(t, err)
	assert.Same(t, a, b, "services at one address share a transport")
	require.NoError(t, reg.RegisterRemote("a", a))

	// Nothing listens there: unavailable, at once.
	_, err = reg.Bind(workers.Service{Service: "a"}).Call(context.Background(), "Add", 1, 2)
	assert.True(t, isUnavailable(err), "%v", err)

	// An unusable URL fails every call.
	tr := remote.NewTransport("ftp://x")
	_, err = tr.Call(context.Background(), &transport.Call{Service: "s", Method: "M"})
	assert.ErrorIs(t, err, workers.ErrUnavailable)
	assert.Contains(t, err.Error(), "scheme")
}

// A user's sentinel registered twice under one name is fine; a clash is
// a programming error.
func TestRegisterClashes(t *testing.T) {
	remote.RegisterSentinel("io.EOF", io.EOF)
	assert.Panics(t, func() { remote.RegisterSentinel("io.EOF", io.ErrClosedPipe) })
	assert.Panics(t, func() { remote.RegisterError[*QuotaError]("another") })
	assert.Panics(t, func() { remote.RegisterError[error]("iface") })
	assert.NotPanics(t, func() { remote.RegisterError[*QuotaError]("remote_test.QuotaError") })
}

func ExampleWithMetadata() {
	ctx := remote.WithMetadata(context.Background(), "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	fmt.Println(remote.Metadata(ctx))
	// Output: map[traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01]
}

// Front calls calc through its binding CALC.
type Front struct{ workers.Entrypoint }

func (w *Front) AddVia(a, b int) ([]int, error) {
	calc := gentest.NewCalcClient(w.Env.Service("CALC"))
	sum, err := calc.Add(w.Ctx, a, b)
	if err != nil {
		return nil, err
	}
	depth, err := calc.Depth(w.Ctx)
	return []int{sum, depth}, err
}

// The handler speaks connect's three protocols; so can a Transport.
func TestProtocols(t *testing.T) {
	base := serve(t, serverRegistry(t), remote.InsecureAllowAll())
	for _, tt := range []struct {
		name string
		opt  connect.ClientOption
	}{
		{"connect", connect.WithClientOptions()},
		{"grpc", connect.WithGRPC()},
		{"grpc-web", connect.WithGRPCWeb()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calc := dial(t, base, []string{"calc"}, remote.WithClientOptions(tt.opt)).Bind(workers.Service{Service: "calc"})
			ctx := remote.WithMetadata(context.Background(), "traceparent", "tp")
			sum, err := workers.Call[int](ctx, calc, "Add", 1, 2)
			require.NoError(t, err)
			assert.Equal(t, 3, sum)
			_, err = calc.Call(ctx, "Fail", "Quota")
			var q *QuotaError
			assert.ErrorAs(t, err, &q)
			_, err = calc.Call(ctx, "Nope")
			assert.ErrorIs(t, err, workers.ErrMethodNotFound)
			md, err := workers.Call[map[string]string](ctx, calc, "Meta")
			require.NoError(t, err)
			assert.Equal(t, "tp", md["traceparent"])
		})
	}
}

// hiddenData has an unexported field that holds data: it crosses neither
// in-process nor over remote, with the same error.
type hiddenData struct {
	Name   string
	secret []byte
}

func TestUnexportedDataRefusedAsInProcess(t *testing.T) {
	tr := &recordingTransport{}
	reg := workers.NewRegistry()
	defer reg.Close(context.Background())
	require.NoError(t, reg.RegisterRemote("far", tr))
	_, err := reg.Bind(workers.Service{Service: "far"}).Call(t.Context(), "Take", hiddenData{Name: "x", secret: []byte("k")})
	require.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "argument 0")
	assert.Contains(t, err.Error(), "unexported field secret")
	assert.Zero(t, tr.calls.Load(), "nothing was sent")
}

type recordingTransport struct{ calls atomic.Int32 }

func (r *recordingTransport) Call(context.Context, *transport.Call) (any, error) {
	r.calls.Add(1)
	return nil, nil
}

func (r *recordingTransport) Fetch(context.Context, *transport.Call, *http.Request) (*http.Response, error) {
	return nil, errors.New("no fetch")
}
