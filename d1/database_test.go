package d1_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

func TestOpenCreatesFileAndParents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c.db")
	db, err := d1.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	assert.Equal(t, path, db.Path())
	_, err = os.Stat(path)
	assert.NoError(t, err, "the file exists as soon as Open returns")
}

func TestOpenPragmas(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		pragma string
		column string
		opts   []d1.Option
		want   any
	}{
		{pragma: "journal_mode", column: "journal_mode", want: "wal"},
		{pragma: "foreign_keys", column: "foreign_keys", want: int64(1)},
		{pragma: "busy_timeout", column: "timeout", want: int64(5000)},
		{pragma: "synchronous", column: "synchronous", want: int64(1)}, // NORMAL
		{pragma: "busy_timeout", column: "timeout", opts: []d1.Option{d1.WithBusyTimeout(1500 * time.Millisecond)}, want: int64(1500)},
		{pragma: "foreign_keys", column: "foreign_keys", opts: []d1.Option{d1.WithForeignKeys(false)}, want: int64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			db := openFile(t, tt.opts...)
			got, err := db.Prepare("PRAGMA "+tt.pragma).FirstValue(ctx, tt.column)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	require.NoError(t, os.WriteFile(notDB, []byte("this is not a SQLite database, not even close to one........................................"), 0o644))
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))

	tests := []struct {
		name string
		path string
		opts []d1.Option
	}{
		{name: "empty path", path: ""},
		{name: "not a database", path: notDB},
		{name: "parent is a file", path: filepath.Join(blocker, "x.db")},
		{name: "negative busy timeout", path: filepath.Join(dir, "a.db"), opts: []d1.Option{d1.WithBusyTimeout(-time.Second)}},
		{name: "no connections", path: filepath.Join(dir, "b.db"), opts: []d1.Option{d1.WithMaxOpenConns(0)}},
		{name: "NUL in path", path: "a\x00b.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := d1.Open(tt.path, tt.opts...)
			assert.Error(t, err)
			assert.Nil(t, db)
		})
	}
}

func TestOpenOddPath(t *testing.T) {
	// Characters that mean something in a SQLite URI stay in the name.
	path := filepath.Join(t.TempDir(), "what?#%25 now.db")
	db, err := d1.Open(path)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = os.Stat(path)
	assert.NoError(t, err)
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "persist.db")

	db, err := d1.Open(path)
	require.NoError(t, err)
	mustExec(t, db, usersSchema)
	_, err = db.Prepare("INSERT INTO users (name) VALUES (?)").Bind("ada").Run(ctx)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db, err = d1.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	name, err := db.Prepare("SELECT name FROM users").FirstValue(ctx, "name")
	require.NoError(t, err)
	assert.Equal(t, "ada", name)
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	db, err := d1.Open(filepath.Join(t.TempDir(), "c.db"))
	require.NoError(t, err)
	stmt := db.Prepare("SELECT 1")
	require.NoError(t, db.Close())

	assert.ErrorIs(t, db.Close(), d1.ErrClosed, "second Close")
	_, err = stmt.All(ctx)
	assert.ErrorIs(t, err, d1.ErrClosed)
	_, err = db.Exec(ctx, "SELECT 1")
	assert.ErrorIs(t, err, d1.ErrClosed)
	_, err = db.Batch(ctx, stmt)
	assert.ErrorIs(t, err, d1.ErrClosed)
	_, err = db.Migrate(ctx, t.TempDir())
	assert.ErrorIs(t, err, d1.ErrClosed)
}

func TestNilDatabase(t *testing.T) {
	var db *d1.Database
	_, err := db.Prepare("SELECT 1").All(context.Background())
	assert.ErrorIs(t, err, d1.ErrClosed)
	assert.ErrorIs(t, db.Close(), d1.ErrClosed)
	assert.Empty(t, db.Path())
}

func TestMemoryDatabasesArePrivate(t *testing.T) {
	ctx := context.Background()
	a, b := openMemory(t), openMemory(t)
	mustExec(t, a, "CREATE TABLE t (x)")
	_, err := b.Prepare("SELECT * FROM t").All(ctx)
	assert.Error(t, err, "b does not see a's table")
	_, err = a.Prepare("SELECT * FROM t").All(ctx)
	assert.NoError(t, err)
	assert.Equal(t, ":memory:", a.Path())
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)

	res, err := db.Exec(ctx, `
		-- schema
		CREATE TABLE t (x INTEGER, note TEXT);
		INSERT INTO t VALUES (1, 'a;b'); /* a ';' in a string or comment; */
		INSERT INTO t VALUES (2, "x");;
		CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
			UPDATE t SET note = 'trig;' WHERE x = NEW.x;
		END;
		INSERT INTO t (x) VALUES (3)
	`)
	require.NoError(t, err)
	assert.Equal(t, 5, res.Count)
	assert.Positive(t, res.Duration)

	rows, err := db.Prepare("SELECT note FROM t ORDER BY x").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{"a;b"}, {"x"}, {"trig;"}}, rows)
}

func TestExecErrors(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, "CREATE TABLE t (x INTEGER UNIQUE)")

	tests := []struct {
		name   string
		script string
		index  int
		is     error
	}{
		{name: "SQL error", script: "INSERT INTO t VALUES (1); INSERT INTO nope VALUES (1)", index: 1},
		{name: "constraint", script: "INSERT INTO t VALUES (2); INSERT INTO t VALUES (2)", index: 1},
		{name: "parameter", script: "SELECT ?", index: 0, is: d1.ErrParameterCount},
		{name: "named parameter", script: "SELECT 1; SELECT :a", index: 1, is: d1.ErrNamedParameter},
		{name: "begin", script: "BEGIN; INSERT INTO t VALUES (3); COMMIT", index: 0, is: d1.ErrTransactionStatement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Exec(ctx, tt.script)
			var se *d1.StatementError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.index, se.Index)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}

	// Exec is not a transaction: what ran before the failure stays.
	n, err := db.Prepare("SELECT count(*) AS n FROM t").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	for _, script := range []string{"", "  ;; -- nothing\n", "/* only a comment */"} {
		_, err := db.Exec(ctx, script)
		assert.ErrorIs(t, err, d1.ErrNoStatement, "%q", script)
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	mustExec(t, db, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
	`)
	_, err := db.Prepare("INSERT INTO child (parent_id) VALUES (?)").Bind(42).Run(ctx)
	assert.ErrorContains(t, err, "FOREIGN KEY constraint failed")
}

func TestNilContext(t *testing.T) {
	db := openMemory(t)
	var ctx context.Context // nil: an error, not a panic
	_, err := db.Prepare("SELECT 1").All(ctx)
	assert.ErrorIs(t, err, d1.ErrNilContext)
}

func TestContextCanceled(t *testing.T) {
	db := openFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Prepare("SELECT 1").All(ctx)
	assert.ErrorIs(t, err, context.Canceled)

	// An endless query stops at its deadline.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = db.Prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").All(ctx)
	assert.Error(t, err)

	// So does one streaming endless rows.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = db.Prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c").All(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// The pool is still usable afterwards.
	v, err := db.Prepare("SELECT 2 AS v").FirstValue(context.Background(), "v")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
}
