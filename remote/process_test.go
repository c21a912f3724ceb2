package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// A server killed while the caller holds stubs of its objects and calls
// through them are in flight: the calls in flight fail with ErrUnavailable
// long before their deadline, the stubs then fail promptly (ErrDisposed or
// ErrUnavailable, never a hang or a zero), every call that succeeded was
// applied once; once the server is back, new stubs work through the same
// Transport.
func TestProcessKilledWithStubsHeld(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite")
	p := startServer(t, "127.0.0.1:0", db)
	caller := dial(t, p.url(), []string{"calc"})
	calc := caller.Bind(workers.Service{Service: "calc"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	counter, err := workers.Call[*workers.Stub](ctx, calc, "MakeCounter", 0)
	require.NoError(t, err)
	defer counter.Close()
	n, err := workers.Call[int](ctx, calc, "Apply", func(x int) (int, error) { return x + 1, nil }, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	slow := make(chan error, 1)
	go func() {
		d := counter.Dup()
		defer d.Close()
		_, err := d.Call(ctx, "Slow", dir)
		slow <- err
	}()
	waitFile(t, filepath.Join(dir, "started"))

	const callers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]bool{}
	var bad []error
	for range callers {
		wg.Go(func() {
			for {
				n, err := workers.Call[int](ctx, counter, "Increment", 1)
				mu.Lock()
				switch {
				case err == nil && seen[n]:
					bad = append(bad, fmt.Errorf("count %d twice", n))
				case err == nil:
					seen[n] = true
				case !isUnavailable(err) && !errors.Is(err, workers.ErrDisposed):
					bad = append(bad, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) > 50 }, 20*time.Second, time.Millisecond)
	killed := time.Now()
	p.kill()
	wg.Wait()
	select {
	case err := <-slow:
		assert.True(t, isUnavailable(err), "the call in flight: got %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the call in flight did not end when its server died")
	}
	assert.Less(t, time.Since(killed), 10*time.Second, "promptly, not at the deadline")
	assert.Empty(t, bad)
	mu.Lock()
	for i := 1; i <= len(seen); i++ {
		assert.True(t, seen[i], "the successful calls were applied once each: %d is missing", i)
	}
	mu.Unlock()

	_, err = counter.Call(ctx, "Increment", 1)
	assert.True(t, errors.Is(err, workers.ErrDisposed) || isUnavailable(err), "got %v", err)

	startServer(t, p.addr, db)
	fresh, err := workers.Call[*workers.Stub](ctx, calc, "MakeCounter", 10)
	require.NoError(t, err)
	defer fresh.Close()
	n, err = workers.Call[int](ctx, fresh, "Increment", 1)
	require.NoError(t, err)
	assert.Equal(t, 11, n)
	n, err = workers.Call[int](ctx, calc, "Apply", func(x int) (int, error) { return x * 2, nil }, 4)
	require.NoError(t, err)
	assert.Equal(t, 8, n)
}

// Two calling processes' Transports increment one Durable Object hosted by
// a server process, which is SIGKILLed mid-way and started again on the
// same state: no acknowledged increment is lost, none counted twice, and
// the same Transports reach the object again.
func TestProcessDurableObjectKilled(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite")
	p := startServer(t, "127.0.0.1:0", db)
	var nss []*workers.DurableObjectNamespace
	for range 2 {
		reg := dial(t, p.url(), []string{"ledgers"})
		nss = append(nss, reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "ledgers", ClassName: "Ledger"}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, ns := range nss {
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := workers.Call[int](ctx, ns.GetByName("shared"), "Add", 1); err != nil {
						failed.Add(1)
						return // unavailable, and maybe applied: not acknowledged
					}
					acked.Add(1)
				}
			})
		}
	}
	require.Eventually(t, func() bool { return acked.Load() >= 100 }, time.Minute, time.Millisecond)
	p.kill()
	close(stop)
	wg.Wait()

	startServer(t, p.addr, db)
	n, err := workers.Call[int](ctx, nss[1].GetByName("shared"), "Get")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, int64(n), acked.Load(), "acknowledged increments survive the SIGKILL")
	assert.LessOrEqual(t, int64(n), acked.Load()+failed.Load(), "an increment is applied at most once")
	m, err := workers.Call[int](ctx, nss[0].GetByName("shared"), "Add", 1)
	require.NoError(t, err)
	assert.Equal(t, n+1, m, "both Transports reach the one object again")
}
