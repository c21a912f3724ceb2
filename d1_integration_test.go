package workers_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
)

// storeWorker is the worker of testdata/config/d1int: every method reaches
// the users table through the D1 binding DB of its Env, as a Worker reaches
// env.DB.
type storeWorker struct{ workers.Entrypoint }

func (w *storeWorker) db() (*d1.Database, error) {
	db, ok := workers.Get[*d1.Database](w.Env, "DB")
	if !ok {
		return nil, errors.New("store: no D1 binding DB")
	}
	return db, nil
}

// Insert adds a user and returns its id.
func (w *storeWorker) Insert(name string, writer int) (int64, error) {
	db, err := w.db()
	if err != nil {
		return 0, err
	}
	res, err := db.Prepare("INSERT INTO users (name, writer) VALUES (?, ?)").Bind(name, writer).Run(w.Ctx)
	if err != nil {
		return 0, fmt.Errorf("insert %q: %w", name, err)
	}
	return res.Meta.LastRowID, nil
}

// Name returns the name of user id.
func (w *storeWorker) Name(id int64) (string, error) {
	db, err := w.db()
	if err != nil {
		return "", err
	}
	v, err := db.Prepare("SELECT name FROM users WHERE id = ?").Bind(id).FirstValue(w.Ctx, "name")
	if err != nil {
		return "", err
	}
	name, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("user %d: name is %T", id, v)
	}
	return name, nil
}

// Stats returns the number of rows, of distinct ids and of rows per writer.
func (w *storeWorker) Stats() (storeStats, error) {
	db, err := w.db()
	if err != nil {
		return storeStats{}, err
	}
	res, err := db.Batch(w.Ctx,
		db.Prepare("SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM users"),
		db.Prepare("SELECT writer, count(*) AS n FROM users GROUP BY writer ORDER BY writer"),
	)
	if err != nil {
		return storeStats{}, err
	}
	s := storeStats{
		Rows:     res[0].Results[0]["rows"].(int64),
		IDs:      res[0].Results[0]["ids"].(int64),
		PerWrite: map[int64]int64{},
	}
	for _, r := range res[1].Results {
		s.PerWrite[r["writer"].(int64)] = r["n"].(int64)
	}
	return s, nil
}

type storeStats struct {
	Rows, IDs int64
	PerWrite  map[int64]int64 // writer -> rows
}

// Exec runs one statement with args.
func (w *storeWorker) Exec(query string, args ...any) error {
	db, err := w.db()
	if err != nil {
		return err
	}
	_, err = db.Prepare(query).Bind(args...).Run(w.Ctx)
	return err
}

// Tables lists the tables of the database.
func (w *storeWorker) Tables() ([]string, error) {
	db, err := w.db()
	if err != nil {
		return nil, err
	}
	rows, err := db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").Raw(w.Ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rows {
		names = append(names, r[0].(string))
	}
	return names, nil
}

// newStore registers the store worker from the config in dir in a new
// registry that is closed when the test ends.
func newStore(t *testing.T, dir string) (*workers.Registry, *workers.Binding) {
	t.Helper()
	reg := newRegistry(t)
	registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), workers.Worker{Default: workers.New[storeWorker]()})
	return reg, bind(reg, "store")
}

// Concurrent writers, each insert a call through the registry to a fresh
// worker instance that writes through its D1 binding, lose nothing; the rows
// survive the registry and are there for the next one.
func TestD1ConcurrentInsertsThroughWorkers(t *testing.T) {
	const writers, inserts = 8, 500
	dir := copyConfig(t, "d1int")
	reg, store := newStore(t, dir)
	ctx := t.Context()

	ids := make([][]int64, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range inserts {
				id, err := workers.Call[int64](ctx, store, "Insert", fmt.Sprintf("writer%d-user%d", g, i), g)
				if !assert.NoError(t, err) {
					return
				}
				ids[g] = append(ids[g], id)
			}
		})
	}
	wg.Wait()

	seen := map[int64]bool{}
	for g := range writers {
		require.Len(t, ids[g], inserts, "writer %d", g)
		for _, id := range ids[g] {
			assert.False(t, seen[id], "id %d returned twice", id)
			seen[id] = true
		}
	}
	perWriter := map[int64]int64{}
	for g := range writers {
		perWriter[int64(g)] = inserts
	}
	want := storeStats{Rows: writers * inserts, IDs: writers * inserts, PerWrite: perWriter}
	stats, err := workers.Call[storeStats](ctx, store, "Stats")
	require.NoError(t, err)
	assert.Equal(t, want, stats)

	// Close the registry (and with it the database), then open the same
	// state with a new registry: the rows are on disk.
	require.NoError(t, reg.Close(ctx))
	_, err = store.Call(ctx, "Stats")
	require.ErrorIs(t, err, workers.ErrClosed)

	_, store = newStore(t, dir)
	stats, err = workers.Call[storeStats](ctx, store, "Stats")
	require.NoError(t, err)
	assert.Equal(t, want, stats)
	name, err := workers.Call[string](ctx, store, "Name", ids[3][7])
	require.NoError(t, err)
	assert.Equal(t, "writer3-user7", name)
}

// An SQL error inside a worker reaches the caller as an error, with its
// identity, and the worker keeps serving.
func TestD1ErrorsReachTheCaller(t *testing.T) {
	_, store := newStore(t, copyConfig(t, "d1int"))
	ctx := t.Context()
	_, err := workers.Call[int64](ctx, store, "Insert", "taken", 1)
	require.NoError(t, err)

	tests := []struct {
		name   string
		method string
		args   []any
		is     error  // errors.Is, when set
		sqlite string // in the message of a *d1.Error, when set
	}{
		{"syntax error", "Exec", []any{"SELEC name FROM users"}, nil, "syntax error"},
		{"no such table", "Exec", []any{"SELECT * FROM nope"}, nil, "no such table: nope"},
		{"no such column", "Exec", []any{"SELECT shoe_size FROM users"}, nil, "no such column: shoe_size"},
		{"unique constraint", "Insert", []any{"taken", 2}, nil, "UNIQUE constraint failed: users.name"},
		{"not null constraint", "Exec", []any{"INSERT INTO users (name) VALUES (?)", nil}, nil, "NOT NULL constraint failed: users.name"},
		{"too few values", "Exec", []any{"INSERT INTO users (name, writer) VALUES (?, ?)", "x"}, d1.ErrParameterCount, ""},
		{"two statements", "Exec", []any{"DELETE FROM users; DROP TABLE users"}, d1.ErrMultipleStatements, ""},
		{"transaction", "Exec", []any{"BEGIN"}, d1.ErrTransactionStatement, ""},
		{"named parameter", "Exec", []any{"SELECT * FROM users WHERE name = :name", "x"}, d1.ErrNamedParameter, ""},
		{"unsupported value", "Exec", []any{"SELECT ?", struct{}{}}, d1.ErrUnsupportedType, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Call(ctx, tc.method, tc.args...)
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			if tc.sqlite != "" {
				var dbErr *d1.Error
				require.ErrorAs(t, err, &dbErr)
				assert.Contains(t, dbErr.Error(), tc.sqlite)
				assert.NotEmpty(t, dbErr.Query)
			}
		})
	}

	stats, err := workers.Call[storeStats](ctx, store, "Stats")
	require.NoError(t, err)
	assert.Equal(t, int64(1), stats.Rows, "failed statements changed nothing")
}

// Values are always bound as parameters: SQL in a value is stored as data.
func TestD1ValuesAreBound(t *testing.T) {
	_, store := newStore(t, copyConfig(t, "d1int"))
	ctx := t.Context()
	values := []string{
		"'); DROP TABLE users; --",
		"Robert'); DROP TABLE users;--",
		`" OR 1=1 --`,
		"x' OR '1'='1",
		"?1 ?2 ?",
		":name @name $name",
		"/* not a comment */",
		"-- not a comment either",
		"a\x00b",
		"Zoë 🚀",
	}
	for _, v := range values {
		id, err := workers.Call[int64](ctx, store, "Insert", v, 0)
		require.NoError(t, err, "insert %q", v)
		got, err := workers.Call[string](ctx, store, "Name", id)
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
	tables, err := workers.Call[[]string](ctx, store, "Tables")
	require.NoError(t, err)
	assert.Contains(t, tables, "users")
	stats, err := workers.Call[storeStats](ctx, store, "Stats")
	require.NoError(t, err)
	assert.Equal(t, int64(len(values)), stats.Rows)

	// Bound into a WHERE clause, the value matches only itself.
	_, err = store.Call(ctx, "Exec", "DELETE FROM users WHERE name = ?", "x' OR '1'='1")
	require.NoError(t, err)
	stats, err = workers.Call[storeStats](ctx, store, "Stats")
	require.NoError(t, err)
	assert.Equal(t, int64(len(values)-1), stats.Rows)
}
