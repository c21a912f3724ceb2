package remote_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// A handler serves the workers its registry runs, never one registered
// there as remote: a peer must not reach a third process with the middle
// server's credential and props of its own making, by Fetch or by RPC.
func TestRemoteWorkersNotServedOnward(t *testing.T) {
	back := serve(t, guardedRegistry(t), remote.AllowToken("middle-token", remote.Allow{Service: "*", Entrypoint: "*"}))
	middle := newRegistry(t)
	require.NoError(t, remote.Register(middle, "todo-app", back, remote.WithBearerToken("middle-token")))
	require.NoError(t, middle.Register("calc", workers.Worker{Default: workers.New[Calc]()}))
	front := serve(t, middle, remote.AllowToken("peer-token", remote.Allow{Service: "*", Entrypoint: "*"}))
	peer := dial(t, front, []string{"todo-app", "calc"}, remote.WithBearerToken("peer-token"))
	before := touched.Load()

	todo := peer.Bind(workers.Service{Service: "todo-app", Props: map[string]any{"role": "admin"}})
	req := httptest.NewRequest(http.MethodGet, "http://todo-app/", nil)
	req.Header.Set("Workers-Remote-Props", "forged")
	_, err := todo.Fetch(req)
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.ErrorContains(t, err, `service "todo-app" is not served here`)

	_, err = todo.Call(context.Background(), "Touch")
	assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	assert.ErrorContains(t, err, `service "todo-app" is not served here`)

	// A raw Fetch, with the props header set by hand.
	status, body := post(t, front+remote.FetchPath, http.Header{
		"Workers-Remote-Authorization": {"Bearer peer-token"},
		"Workers-Remote-Service":       {"todo-app"},
		"Workers-Remote-Url":           {"http://todo-app/"},
		"Workers-Remote-Props":         {"oWRyb2xlZWFkbWlu"}, // {"role": "admin"}
	}, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.Equal(t, before, touched.Load(), "the peer reached the worker behind the middle server")

	// The middle server's own workers are served, and may call onward
	// themselves.
	sum, err := workers.Call[int](context.Background(), peer.Bind(workers.Service{Service: "calc"}), "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	_, err = middle.Bind(workers.Service{Service: "todo-app"}).Call(context.Background(), "Touch")
	require.NoError(t, err)
	assert.Equal(t, before+1, touched.Load())
}
