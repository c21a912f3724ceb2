package d1_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers/d1"
)

// TestMain checks that no test leaves a goroutine behind: database/sql
// starts one per pool and the driver one per query with a context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openFile opens a database file in a fresh temporary directory, closed
// when the test ends.
func openFile(t testing.TB, opts ...d1.Option) *d1.Database {
	t.Helper()
	db, err := d1.Open(filepath.Join(t.TempDir(), "test.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openMemory opens an in-memory database, closed when the test ends.
func openMemory(t testing.TB) *d1.Database {
	t.Helper()
	db, err := d1.OpenMemory()
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// mustExec runs a script and fails the test if it fails.
func mustExec(t testing.TB, db *d1.Database, script string) {
	t.Helper()
	_, err := db.Exec(context.Background(), script)
	require.NoError(t, err)
}

const usersSchema = `
CREATE TABLE users (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL UNIQUE,
	email      TEXT,
	age        INTEGER,
	score      REAL,
	avatar     BLOB,
	created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);`
