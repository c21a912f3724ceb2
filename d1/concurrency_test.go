package d1_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

func TestConcurrentInserts(t *testing.T) {
	const (
		goroutines = 8
		inserts    = 500
	)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "concurrent.db")
	db, err := d1.Open(path)
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE events (id INTEGER PRIMARY KEY, worker INTEGER NOT NULL, seq INTEGER NOT NULL, UNIQUE (worker, seq))")

	insert := db.Prepare("INSERT INTO events (worker, seq) VALUES (?, ?)")
	count := db.Prepare("SELECT count(*) AS n FROM events WHERE worker = ?")
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for w := range goroutines {
		wg.Go(func() {
			for i := range inserts {
				if _, err := insert.Bind(w, i).Run(ctx); err != nil {
					errs <- fmt.Errorf("worker %d insert %d: %w", w, i, err)
					return
				}
				// Interleave reads, which WAL runs beside the writes.
				if i%100 == 0 {
					if _, err := count.Bind(w).First(ctx); err != nil {
						errs <- fmt.Errorf("worker %d read %d: %w", w, i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	n, err := db.Prepare("SELECT count(*) AS n FROM events").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(goroutines*inserts), n)

	// And it is all still there after closing and reopening.
	require.NoError(t, db.Close())
	db, err = d1.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	n, err = db.Prepare("SELECT count(*) AS n FROM events").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(goroutines*inserts), n)
}

func TestConcurrentBatches(t *testing.T) {
	// Read-modify-write batches on a shared counter: with IMMEDIATE
	// transactions none is lost and none fails with SQLITE_BUSY.
	const (
		goroutines = 6
		batches    = 40
	)
	ctx := context.Background()
	db := openFile(t)
	mustExec(t, db, "CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0); CREATE TABLE log (n INTEGER)")

	read := db.Prepare("SELECT n FROM counter")
	bump := db.Prepare("UPDATE counter SET n = n + 1")
	logN := db.Prepare("INSERT INTO log SELECT n FROM counter")
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range batches {
				if _, err := db.Batch(ctx, read, bump, logN); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	row, err := db.Prepare("SELECT (SELECT n FROM counter) AS n, (SELECT count(DISTINCT n) FROM log) AS distinct_logged").First(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(goroutines*batches), row["n"])
	assert.Equal(t, int64(goroutines*batches), row["distinct_logged"], "every batch saw its own value")
}

func TestConcurrentMemory(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, "CREATE TABLE t (x)")
	insert := db.Prepare("INSERT INTO t VALUES (?)")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				_, err := insert.Bind(w*100 + i).Run(ctx)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	n, err := db.Prepare("SELECT count(*) AS n FROM t").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(200), n)
}
