package d1_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

// writeMigrations writes files into a new directory and returns it.
func writeMigrations(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// schema returns the database's schema, to compare before and after.
func schema(t *testing.T, db *d1.Database) [][]any {
	t.Helper()
	rows, err := db.Prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name").Raw(context.Background())
	require.NoError(t, err)
	return rows
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)

	applied, err := db.Migrate(ctx, "testdata/migrations")
	require.NoError(t, err)
	assert.Equal(t, []string{"0001_create_users.sql", "0002_add_email.sql"}, applied)

	email, err := db.Prepare("SELECT email FROM users WHERE name = ?").Bind("admin").FirstValue(ctx, "email")
	require.NoError(t, err)
	assert.Equal(t, "admin@example.com", email)

	// Recorded as wrangler does.
	rows, err := db.Prepare("SELECT id, name FROM d1_migrations ORDER BY id").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{int64(1), "0001_create_users.sql"}, {int64(2), "0002_add_email.sql"}}, rows)
	at, err := db.Prepare("SELECT applied_at FROM d1_migrations WHERE id = 1").FirstValue(ctx, "applied_at")
	require.NoError(t, err)
	assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, at)

	// A second run applies nothing.
	applied, err = db.Migrate(ctx, "testdata/migrations")
	require.NoError(t, err)
	assert.Empty(t, applied)
	n, err := db.Prepare("SELECT count(*) AS n FROM users").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the seed row was inserted once")
}

func TestMigrateOrderAndFilter(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	dir := writeMigrations(t, map[string]string{
		"0010_c.sql":  "INSERT INTO log VALUES ('c');",
		"0002_b.sql":  "INSERT INTO log VALUES ('b');",
		"0001_a.sql":  "CREATE TABLE log (v TEXT); INSERT INTO log VALUES ('a');",
		"notes.txt":   "not a migration",
		"0003_x.sql~": "not a migration either",
	})
	require.NoError(t, os.Mkdir(filepath.Join(dir, "0004_dir.sql"), 0o755))

	applied, err := db.Migrate(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"0001_a.sql", "0002_b.sql", "0010_c.sql"}, applied)
	rows, err := db.Prepare("SELECT v FROM log ORDER BY rowid").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{"a"}, {"b"}, {"c"}}, rows)
}

func TestMigrateFailureLeavesDatabaseAsBefore(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	dir := writeMigrations(t, map[string]string{
		"0001_ok.sql": "CREATE TABLE a (x INTEGER);",
		// Fails at its third statement, after changing the schema and data.
		"0002_bad.sql":   "CREATE TABLE b (y); INSERT INTO a VALUES (1); INSERT INTO nope VALUES (1);",
		"0003_never.sql": "CREATE TABLE c (z);",
	})

	applied, err := db.Migrate(ctx, dir)
	assert.Equal(t, []string{"0001_ok.sql"}, applied, "the migrations before the failure stay applied")
	var me *d1.MigrationError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "0002_bad.sql", me.Name)
	assert.ErrorContains(t, err, "0002_bad.sql")
	assert.ErrorContains(t, err, "no such table: nope")
	var se *d1.StatementError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 2, se.Index)

	n, err := db.Prepare("SELECT count(*) AS n FROM a").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)
	for _, row := range schema(t, db) {
		assert.NotEqual(t, "b", row[1], "table b was rolled back")
	}
	recorded, err := db.Prepare("SELECT name FROM d1_migrations").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{"0001_ok.sql"}}, recorded)

	// Fixing the file and running again picks up where it stopped.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0002_bad.sql"), []byte("CREATE TABLE b (y);"), 0o644))
	applied, err = db.Migrate(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"0002_bad.sql", "0003_never.sql"}, applied)
}

func TestMigrateRejectsTransactionStatements(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	dir := writeMigrations(t, map[string]string{
		"0001_tx.sql": "BEGIN TRANSACTION; CREATE TABLE a (x); COMMIT;",
	})
	_, err := db.Migrate(ctx, dir)
	assert.ErrorIs(t, err, d1.ErrTransactionStatement)
	assert.ErrorContains(t, err, "0001_tx.sql")
	for _, row := range schema(t, db) {
		assert.NotEqual(t, "a", row[1], "nothing of the file ran")
	}
}

func TestMigrateMissingDir(t *testing.T) {
	db := openMemory(t)
	_, err := db.Migrate(context.Background(), filepath.Join(t.TempDir(), "nope"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestMigrateFS(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	fsys := fstest.MapFS{
		"0001_init.sql": {Data: []byte("CREATE TABLE t (x);")},
		"sub/0002.sql":  {Data: []byte("not applied: not at the root")},
	}
	applied, err := db.MigrateFS(ctx, fsys)
	require.NoError(t, err)
	assert.Equal(t, []string{"0001_init.sql"}, applied)
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	dir := writeMigrations(t, map[string]string{
		"0001.sql": "CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);",
		"0002.sql": "UPDATE counter SET n = n + 1;",
		"0003.sql": "UPDATE counter SET n = n + 10;",
	})

	// Separate Database values, as separate processes would have.
	const workers = 4
	var wg sync.WaitGroup
	results := make([][]string, workers)
	errs := make([]error, workers)
	for i := range workers {
		db, err := d1.Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		wg.Go(func() { results[i], errs[i] = db.Migrate(ctx, dir) })
	}
	wg.Wait()

	total := 0
	for i := range workers {
		require.NoError(t, errs[i])
		total += len(results[i])
	}
	assert.Equal(t, 3, total, "each migration applied exactly once")

	db := openFileAt(t, path)
	n, err := db.Prepare("SELECT n FROM counter").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(11), n)
}

func openFileAt(t *testing.T, path string) *d1.Database {
	t.Helper()
	db, err := d1.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestListMigrations(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	dir := writeMigrations(t, map[string]string{
		"0001_a.sql": "CREATE TABLE a (x);",
		"0002_b.sql": "CREATE TABLE b (x);",
	})

	list, err := db.ListMigrations(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, []d1.Migration{{Name: "0001_a.sql"}, {Name: "0002_b.sql"}}, list)
	_, err = db.Prepare("SELECT * FROM d1_migrations").All(ctx)
	assert.Error(t, err, "listing creates nothing")

	start := time.Now().UTC().Add(-time.Minute)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0003_c.sql"), []byte("CREATE TABLE c (x);"), 0o644))
	_, err = db.MigrateFS(ctx, fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")}})
	require.NoError(t, err)

	list, err = db.ListMigrations(ctx, dir)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, "0001_a.sql", list[0].Name)
	assert.True(t, list[0].Applied)
	assert.WithinRange(t, list[0].AppliedAt, start, time.Now().UTC().Add(time.Minute))
	assert.Equal(t, d1.Migration{Name: "0002_b.sql"}, list[1])
	assert.Equal(t, d1.Migration{Name: "0003_c.sql"}, list[2])
}
