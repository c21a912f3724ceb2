package remote_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Room is a Durable Object whose Bounce goes to worker "echo" of another
// process, which calls back into the same object: a chain that re-enters
// the object across processes.
type Room struct {
	workers.DurableObject
	gate *roomGate
	busy int // Bounce calls in progress, in memory
}

// roomGate holds the innermost Bounce until the test releases it.
type roomGate struct {
	once             sync.Once
	reached, release chan struct{}
}

// Bounce returns how many times the chain came through the object.
func (r *Room) Bounce(ctx context.Context, name string, depth int) (int, error) {
	r.busy++
	defer func() { r.busy-- }()
	if depth == 0 {
		if g := r.gate; g != nil {
			g.once.Do(func() { close(g.reached) })
			select {
			case <-g.release:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return 1, nil
	}
	n, err := workers.Call[int](ctx, r.Env.Service("ECHO"), "Bounce", name, depth-1)
	return n + 1, err
}

// Poke reports how many Bounce calls are in progress: 0 unless it
// overlapped them.
func (r *Room) Poke() int { return r.busy }

// Echo is worker "echo" of the second process: it calls back into the
// object that called it.
type Echo struct{ workers.Entrypoint }

func (e *Echo) Bounce(ctx context.Context, name string, depth int) (int, error) {
	return workers.Call[int](ctx, e.Env.DurableObject("ROOM").GetByName(name), "Bounce", name, depth)
}

// reentryProcesses makes two processes, each serving the other: the host
// (worker "rooms", class Room, a service binding to "echo") and the peer
// (worker "echo", a namespace binding to the host's Room). It returns the
// host's and the peer's namespace of Room.
func reentryProcesses(t *testing.T, gate *roomGate) (host, peer *workers.DurableObjectNamespace) {
	t.Helper()
	h := newRegistry(t, workers.WithStateDir(t.TempDir()))
	p := newRegistry(t)
	baseH := serve(t, h, remote.AllowToken("p", remote.Allow{Service: "rooms", Class: "Room"}))
	baseP := serve(t, p, remote.AllowToken("h", remote.Allow{Service: "echo", Entrypoint: "*"}))
	require.NoError(t, remote.Register(h, "echo", baseP, remote.WithBearerToken("h")))
	require.NoError(t, h.Register("rooms", workers.Worker{
		DurableObjects: map[string]workers.Constructor{"Room": workers.NewFunc(func() *Room { return &Room{gate: gate} })},
		Services:       []workers.Service{{Binding: "ECHO", Service: "echo"}},
	}))
	require.NoError(t, remote.Register(p, "rooms", baseH, remote.WithBearerToken("p")))
	require.NoError(t, p.Register("echo", workers.Worker{
		Default:               workers.New[Echo](),
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "ROOM", ClassName: "Room", ScriptName: "rooms"}},
	}))
	require.NoError(t, h.Validate())
	require.NoError(t, p.Validate())
	b := workers.DurableObjectBinding{ScriptName: "rooms", ClassName: "Room"}
	return h.BindDurableObject(b), p.BindDurableObject(b)
}

// A chain object A (host process) -> worker in another process -> A
// again runs, as it does in-process, instead of waiting for itself until
// its deadline: the call that left A carries its turn's token, and the
// call that comes back with it runs inside that turn. Twice around works
// too: the peer passes the tokens it received on.
func TestDurableObjectRemoteReentry(t *testing.T) {
	host, peer := reentryProcesses(t, nil)
	for _, tc := range []struct {
		name  string
		ns    *workers.DurableObjectNamespace
		depth int
	}{
		{"from the host, once around", host, 1},
		{"from the host, twice around", host, 2},
		{"from the peer, twice around", peer, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := workers.Call[int](ctx, tc.ns.GetByName("room"), "Bounce", "room", tc.depth)
			require.NoError(t, err)
			assert.Equal(t, tc.depth+1, n)
		})
	}
}

// An unrelated call of the object from the peer, which carries no token
// of its turn, still waits for the re-entered chain to end.
func TestDurableObjectRemoteReentryKeepsTurns(t *testing.T) {
	gate := &roomGate{reached: make(chan struct{}), release: make(chan struct{})}
	host, peer := reentryProcesses(t, gate)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	chain := make(chan error, 1)
	go func() {
		_, err := workers.Call[int](ctx, host.GetByName("room"), "Bounce", "room", 1)
		chain <- err
	}()
	select {
	case <-gate.reached:
	case <-ctx.Done():
		t.Fatal("the chain did not come back to the object")
	}
	poked := make(chan int, 1)
	go func() {
		n, err := workers.Call[int](ctx, peer.GetByName("room"), "Poke")
		assert.NoError(t, err)
		poked <- n
	}()
	select {
	case n := <-poked:
		t.Fatalf("an unrelated call ran inside the chain's turn (it saw %d calls in progress)", n)
	case <-time.After(300 * time.Millisecond):
	}
	close(gate.release)
	require.NoError(t, <-chain)
	assert.Equal(t, 0, <-poked, "the unrelated call ran after the chain")
}
