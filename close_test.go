package workers_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/transport"
)

// stubborn starts a task that, once its ctx is done, reports the ctx's
// cause and goes on running until released.
type stubborn struct{ workers.Entrypoint }

type stubbornProbe struct {
	started, release chan struct{}
	cause            chan error
}

func (w *stubborn) Start() {
	p, _ := workers.Get[*stubbornProbe](w.Env, "PROBE")
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		close(p.started)
		<-ctx.Done()
		p.cause <- context.Cause(ctx)
		<-p.release
		return nil
	})
	<-p.started
}

// closerTransport is a remote worker's Transport that is an io.Closer: the
// registry closes it in Close. Its Close blocks until release is closed.
type closerTransport struct {
	closes  atomic.Int32
	entered chan struct{}
	release chan struct{}
	err     error
}

func newCloserTransport(err error) *closerTransport {
	return &closerTransport{entered: make(chan struct{}, 1), release: make(chan struct{}), err: err}
}

func (c *closerTransport) Call(context.Context, *transport.Call) (any, error) {
	return nil, errors.New("unused")
}

func (c *closerTransport) Fetch(context.Context, *transport.Call, *http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}

func (c *closerTransport) Close() error {
	c.closes.Add(1)
	c.entered <- struct{}{}
	<-c.release
	return c.err
}

// closeAsync runs Close(ctx) in a goroutine.
func closeAsync(reg *workers.Registry, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- reg.Close(ctx) }()
	return done
}

// notYet fails the test if one of the Close calls has returned.
func notYet(t *testing.T, what string, closes ...<-chan error) {
	t.Helper()
	for i, c := range closes {
		select {
		case err := <-c:
			t.Fatalf("%s: Close %d returned (%v)", what, i, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A Close that gave up leaves repeated Close calls well defined: each
// waits again, as long as its own ctx allows, and all return once the
// task they waited for ends. The task learns from its ctx's cause that
// the registry closed; the registry's own bindings are closed once.
func TestCloseAgainAfterGivingUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := &stubbornProbe{started: make(chan struct{}), release: make(chan struct{}), cause: make(chan error, 1)}
	reg := workers.NewRegistry()
	register(t, reg, "stubborn", workers.Worker{Default: workers.New[stubborn](), Bindings: map[string]any{"PROBE": p}})
	tr := newCloserTransport(nil)
	close(tr.release)
	require.NoError(t, reg.RegisterRemote("far", tr))
	_, err := bind(reg, "stubborn").Call(t.Context(), "Start")
	require.NoError(t, err)

	expired, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	err = reg.Close(expired)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "still running: 1", "Close says what it gave up on")
	cause := <-p.cause
	assert.ErrorIs(t, cause, workers.ErrClosed, "the task's ctx says why it was canceled: %v", cause)
	assert.Equal(t, int32(1), tr.closes.Load(), "the bindings are closed once the first wait is over")

	err = reg.Close(expired)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a second Close is bounded by its own ctx")

	first, second := closeAsync(reg, context.Background()), closeAsync(reg, context.Background())
	notYet(t, "while the task runs", first, second)
	close(p.release)
	for i, c := range []<-chan error{first, second} {
		assert.NoError(t, <-c, "Close %d, once the task ended", i)
	}
	assert.NoError(t, reg.Close(expired), "nothing is left: a done ctx cuts nothing short")
	assert.Equal(t, int32(1), tr.closes.Load(), "closed exactly once")
}

// Concurrent Close calls all return only once the registry's bindings are
// closed, each with the error of closing them, which happens once.
func TestConcurrentCloseWaitsForBindings(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := workers.NewRegistry()
	flush := errors.New("flush failed")
	tr := newCloserTransport(flush)
	require.NoError(t, reg.RegisterRemote("far", tr))

	first := closeAsync(reg, context.Background())
	<-tr.entered
	second, third := closeAsync(reg, context.Background()), closeAsync(reg, context.Background())
	notYet(t, "while the bindings close", second, third)
	close(tr.release)
	for i, c := range []<-chan error{first, second, third} {
		assert.ErrorIs(t, <-c, flush, "Close %d", i)
	}
	assert.ErrorIs(t, reg.Close(context.Background()), flush, "a later Close says it too")
	assert.Equal(t, int32(1), tr.closes.Load())
}
