package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// These tests run the serving side as another OS process (this test binary
// again, see TestMain) and call it over TCP on loopback.

// A server killed mid-call fails the call with ErrUnavailable, long before
// its deadline; calls made while it is down fail so too; once it is back on
// its address, calls succeed again through the same Transport.
func TestProcessKilledAndRestarted(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite")
	p := startServer(t, "127.0.0.1:0", db)
	caller := dial(t, p.url(), []string{"calc"})
	calc := caller.Bind(workers.Service{Service: "calc"})

	sum, err := workers.Call[int](context.Background(), calc, "Add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, sum)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := calc.Call(ctx, "Slow", dir)
		errc <- err
	}()
	waitFile(t, filepath.Join(dir, "started"))
	p.kill()
	select {
	case err := <-errc:
		assert.True(t, isUnavailable(err), "got %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the call did not end when its server died")
	}

	_, err = workers.Call[int](context.Background(), calc, "Add", 1, 2)
	assert.True(t, isUnavailable(err), "got %v", err)

	startServer(t, p.addr, db)
	sum, err = workers.Call[int](context.Background(), calc, "Add", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 5, sum)
}

// A short deadline on a slow call: the caller gets DeadlineExceeded, and
// the work in the server process is canceled, as its marker file shows.
// Canceling the caller's context cancels it likewise.
func TestProcessDeadlineCancelsServerWork(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, "127.0.0.1:0", filepath.Join(dir, "db.sqlite"))
	calc := dial(t, p.url(), []string{"calc"}).Bind(workers.Service{Service: "calc"})

	deadline := filepath.Join(dir, "deadline")
	require.NoError(t, os.Mkdir(deadline, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := calc.Call(ctx, "Slow", deadline)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	waitFile(t, filepath.Join(deadline, "canceled"))

	canceled := filepath.Join(dir, "cancel")
	require.NoError(t, os.Mkdir(canceled, 0o755))
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitFile(t, filepath.Join(canceled, "started"))
		cancel()
	}()
	_, err = calc.Call(ctx, "Slow", canceled)
	assert.ErrorIs(t, err, context.Canceled)
	waitFile(t, filepath.Join(canceled, "canceled"))
}

// 64 goroutines make 200 calls each to a worker that writes a row per
// call into SQLite (a D1 binding) in the server process: every call
// succeeds, and every effect is there exactly once.
func TestProcessLoad(t *testing.T) {
	const goroutines, calls = 64, 200
	dir := t.TempDir()
	p := startServer(t, "127.0.0.1:0", filepath.Join(dir, "db.sqlite"))
	rows := dial(t, p.url(), []string{"rows"}).Bind(workers.Service{Service: "rows"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	ids := make(map[int64]bool, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				id, err := workers.Call[int64](ctx, rows, "Insert", g, i)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids[id] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, errors.Join(errs...))
	assert.Len(t, ids, goroutines*calls, "every insert got its own row")

	counts, err := workers.Call[[]int64](ctx, rows, "Count")
	require.NoError(t, err)
	assert.Equal(t, []int64{goroutines * calls, goroutines * calls}, counts, "rows, distinct effects")
}
