package remote_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

type recorder struct {
	mu    sync.Mutex
	calls []workers.CallInfo
}

func (r *recorder) Interceptor() workers.Interceptor { return (*recording)(r) }

type recording recorder

func (r *recording) WrapCall(next workers.CallFunc) workers.CallFunc {
	return func(ctx context.Context, ci *workers.CallInfo) (any, error) {
		r.add(ci)
		if ci.Method == "Nothing" {
			return nil, errNotHere
		}
		return next(ctx, ci)
	}
}

func (r *recording) WrapFetch(next workers.FetchFunc) workers.FetchFunc {
	return func(req *http.Request, ci *workers.CallInfo) (*http.Response, error) {
		r.add(ci)
		return next(req, ci)
	}
}

func (r *recording) add(ci *workers.CallInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, *ci)
}

func (r *recorder) all() []workers.CallInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]workers.CallInfo(nil), r.calls...)
}

var errNotHere = errors.New("refused here")

// The serving registry's interceptors see the calls and fetches its
// handler serves, and may refuse them; the calling registry's see them
// as remote.
func TestInterceptorsAcrossRemote(t *testing.T) {
	var server, client recorder
	srv := newRegistry(t, workers.WithInterceptors(server.Interceptor()))
	require.NoError(t, srv.Register("calc", workers.Worker{Default: workers.New[Calc]()}))
	caller := newRegistry(t, workers.WithInterceptors(client.Interceptor()))
	require.NoError(t, remote.Register(caller, "calc", serve(t, srv, remote.InsecureAllowAll())))
	calc := caller.Bind(workers.Service{Service: "calc", Props: map[string]any{"who": "a"}})
	ctx := context.Background()

	sum, err := workers.Call[int](ctx, calc, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	_, err = calc.Call(ctx, "Nothing")
	assert.ErrorContains(t, err, "refused here", "the client side refused it")
	req, err := http.NewRequest(http.MethodGet, "http://calc/hello", nil)
	require.NoError(t, err)
	resp, err := calc.Fetch(req)
	require.NoError(t, err)
	resp.Body.Close()

	cs := client.all()
	require.Len(t, cs, 3)
	for _, c := range cs {
		assert.True(t, c.Remote)
		assert.Equal(t, "calc", c.Service)
		assert.Equal(t, map[string]any{"who": "a"}, c.Props)
	}
	ss := server.all()
	require.Len(t, ss, 2, "the refused call never left the caller")
	assert.Equal(t, "Add", ss[0].Method)
	assert.Equal(t, []any{1, 2}, ss[0].Args)
	assert.Equal(t, 1, ss[0].Depth)
	assert.False(t, ss[0].Remote)
	assert.Equal(t, map[string]any{"who": "a"}, ss[0].Props, "props as they arrived")
	assert.Equal(t, "", ss[1].Method, "the Fetch")

	// Refused on the serving side: the caller gets the error's message.
	direct := newRegistry(t)
	require.NoError(t, remote.Register(direct, "calc", serve(t, srv, remote.InsecureAllowAll())))
	_, err = direct.Bind(workers.Service{Service: "calc"}).Call(ctx, "Nothing")
	assert.ErrorContains(t, err, "refused here")
	assert.Equal(t, "Nothing", server.all()[2].Method)
}

// A call the handler refuses (unauthenticated, or beyond its credential)
// is logged by the serving registry's logger, naming what was asked for.
func TestRefusedCallsAreLogged(t *testing.T) {
	var logs syncBuffer
	srv := newRegistry(t, workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, srv.Register("calc", workers.Worker{
		Default:     workers.New[Calc](),
		Entrypoints: map[string]workers.Constructor{"Admin": workers.New[Admin]()},
	}))
	base := serve(t, srv, remote.AllowToken("tok", remote.Allow{Service: "calc"}))
	ctx := context.Background()

	good := dial(t, base, []string{"calc"}, remote.WithBearerToken("tok"))
	_, err := good.Bind(workers.Service{Service: "calc", Entrypoint: "Admin"}).Call(ctx, "Stats")
	require.ErrorIs(t, err, remote.ErrPermissionDenied)
	bad := dial(t, base, []string{"calc"}, remote.WithBearerToken("wrong"))
	_, err = bad.Bind(workers.Service{Service: "calc"}).Call(ctx, "Add", 1, 2)
	require.ErrorIs(t, err, remote.ErrUnauthenticated)

	out := logs.String()
	assert.Contains(t, out, `msg="remote: call refused" service=calc entrypoint=Admin method=Stats`)
	assert.Contains(t, out, `msg="remote: request refused" path=/workers.remote.v1.Workers/Session`, "the Transport's session, refused as its calls would be")
	assert.Contains(t, out, "the bearer token is not accepted")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
