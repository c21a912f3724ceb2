package remote_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
	"github.com/seed-29c11ff2/workers/transport"
)

var errTooMuch = errors.New("too much")

// refuseBig refuses every call whose first argument is 99.
var refuseBig = workers.CallInterceptorFunc(func(next workers.CallFunc) workers.CallFunc {
	return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
		if len(ci.Args) > 0 && ci.Args[0] == 99 {
			return nil, errTooMuch
		}
		return next(ctx, ci)
	}
})

// Calls through a stub of a peer's object pass the calling registry's
// interceptors, inside an invocation and outside any, and may be refused
// there: the peer never sees them.
func TestInterceptorsOnRemoteStubs(t *testing.T) {
	var server, client recorder
	srv := newRegistry(t, workers.WithInterceptors(server.Interceptor()))
	require.NoError(t, srv.Register("store", workers.Worker{Default: workers.New[Store]()}))
	caller := newRegistry(t, workers.WithInterceptors(client.Interceptor(), refuseBig))
	require.NoError(t, remote.Register(caller, "store", serve(t, srv, remote.InsecureAllowAll())))
	require.NoError(t, caller.Register("till", workers.Worker{Default: workers.New[Till](),
		Services: []workers.Service{{Binding: "STORE", Service: "store"}}}))
	ctx := t.Context()

	// Inside an invocation: till's.
	n, err := workers.Call[int](ctx, caller.Bind(workers.Service{Service: "till"}), "UseTally")
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	var stubCalls []workers.CallInfo
	for _, c := range client.all() {
		if c.Target != "" {
			stubCalls = append(stubCalls, c)
		}
	}
	require.Len(t, stubCalls, 1, "the call through the remote stub: %+v", client.all())
	c := stubCalls[0]
	assert.Equal(t, "Increment", c.Method)
	assert.Equal(t, "till", c.Caller)
	assert.Equal(t, 2, c.Depth)
	assert.True(t, c.Remote)
	assert.Equal(t, []any{2}, c.Args)
	assert.Contains(t, c.Target, "remote RpcTarget")

	// Outside any invocation: the registry the stub was made in.
	tally, err := workers.Call[*workers.Stub](ctx, caller.Bind(workers.Service{Service: "store"}), "MakeTally", 1)
	require.NoError(t, err)
	defer tally.Close()
	n, err = workers.Call[int](ctx, tally, "Increment", 2)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	all := client.all()
	last := all[len(all)-1]
	assert.Equal(t, "Increment", last.Method)
	assert.Equal(t, "", last.Caller)
	assert.Equal(t, 1, last.Depth)

	served := len(server.all())
	_, err = tally.Call(ctx, "Increment", 99)
	assert.ErrorIs(t, err, errTooMuch, "refused by the calling registry's interceptor")
	assert.Len(t, server.all(), served, "a refused call never leaves")
	n, err = workers.Call[int](ctx, tally, "Increment", 1)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "the refused call did not run")
}

// The serving registry's interceptors see the calling worker's name, over
// the session, over unary calls and on Fetch; a name over the bound is
// refused by the handler and never sent by a Transport.
func TestCallerNameAcrossRemote(t *testing.T) {
	for _, mode := range []string{"session", "unary"} {
		t.Run(mode, func(t *testing.T) {
			var server recorder
			srv := newRegistry(t, workers.WithInterceptors(server.Interceptor()))
			require.NoError(t, srv.Register("store", workers.Worker{Default: workers.New[Store]()}))
			require.NoError(t, srv.Register("calc", workers.Worker{Default: workers.New[Calc]()}))
			var opts []remote.ClientOption
			if mode == "unary" {
				opts = append(opts, remote.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
			}
			caller := dial(t, serve(t, srv, remote.InsecureAllowAll()), []string{"store", "calc"}, opts...)
			require.NoError(t, caller.Register("till", workers.Worker{Default: workers.New[Till](),
				Services: []workers.Service{{Binding: "STORE", Service: "store"}}}))
			long := strings.Repeat("x", transport.MaxCallerBytes+1)
			require.NoError(t, caller.Register(long, workers.Worker{Default: workers.New[Till](),
				Services: []workers.Service{{Binding: "STORE", Service: "store"}}}))
			require.NoError(t, caller.Register("fetcher", workers.Worker{Default: workers.New[Fetcher](),
				Services: []workers.Service{{Binding: "CALC", Service: "calc"}}}))
			ctx := t.Context()

			_, err := caller.Bind(workers.Service{Service: "till"}).Call(ctx, "UseTally")
			if mode == "session" {
				require.NoError(t, err)
			}
			_, err = caller.Bind(workers.Service{Service: "fetcher"}).Call(ctx, "Get")
			require.NoError(t, err)
			_, err = caller.Bind(workers.Service{Service: long}).Call(ctx, "UseTally")
			if mode == "session" {
				require.NoError(t, err)
			}
			_, err = caller.Bind(workers.Service{Service: "store"}).Call(ctx, "Echo", 1)
			require.NoError(t, err)

			var got []string
			for _, c := range server.all() {
				m := c.Method
				if m == "" {
					m = "Fetch"
				}
				if c.Target != "" {
					m = "stub." + m
				}
				got = append(got, m+" by "+c.Caller)
			}
			want := []string{"MakeTally by till", "stub.Increment by till", "Fetch by fetcher", "MakeTally by ", "stub.Increment by ", "Echo by "}
			if mode == "unary" {
				// No session: MakeTally ran, and its result was refused.
				want = []string{"MakeTally by till", "Fetch by fetcher", "MakeTally by ", "Echo by "}
			}
			assert.Equal(t, want, got, "the over-long name was not sent")
		})
	}
}

// A handler refuses a caller's name over the bound, from a peer that is
// not a Transport of this package.
func TestCallerNameBound(t *testing.T) {
	srv := serverRegistry(t)
	base := serve(t, srv, remote.InsecureAllowAll())
	for _, n := range []int{transport.MaxCallerBytes, transport.MaxCallerBytes + 1} {
		req := remote.CallRequest{Service: "calc", Method: "Add", Depth: 1, Caller: strings.Repeat("c", n),
			Args: []cbor.RawMessage{cborOf(t, 1), cborOf(t, 2)}}
		status, body := post(t, base+remote.CallProcedure, cborHeader, bytes.NewReader(cborOf(t, req)))
		if n == transport.MaxCallerBytes {
			assert.Equal(t, http.StatusOK, status, "%s", body)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body, "the caller's name is 257 bytes long, over the limit of 256")
	}
}

// Fetcher fetches through its CALC binding.
type Fetcher struct{ workers.Entrypoint }

func (w *Fetcher) Get() (int, error) {
	req, err := http.NewRequestWithContext(w.Ctx, http.MethodGet, "http://calc/hello", nil)
	if err != nil {
		return 0, err
	}
	resp, err := w.Env.Service("CALC").Fetch(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
