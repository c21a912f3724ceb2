package d1_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

func TestBindReturnsNewStatement(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, usersSchema)

	insert := db.Prepare("INSERT INTO users (name, age) VALUES (?, ?)")
	ada := insert.Bind("ada", 36)
	bob := insert.Bind("bob", 41)
	require.NotSame(t, insert, ada)

	_, err := ada.Run(ctx)
	require.NoError(t, err)
	_, err = bob.Run(ctx)
	require.NoError(t, err)
	_, err = insert.Run(ctx)
	assert.ErrorIs(t, err, d1.ErrParameterCount, "the original has no values bound")

	// Binding again replaces the values.
	_, err = bob.Bind("cy", 7).Run(ctx)
	require.NoError(t, err)

	rows, err := db.Prepare("SELECT name, age FROM users ORDER BY id").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{"ada", int64(36)}, {"bob", int64(41)}, {"cy", int64(7)}}, rows)
}

func TestBindCopiesBytes(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	b := []byte("abc")
	stmt := db.Prepare("SELECT ? AS b").Bind(b)
	b[0] = 'X'
	got, err := stmt.FirstValue(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, []byte("abc"), got)
}

func TestRunMeta(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	mustExec(t, db, usersSchema)

	res, err := db.Prepare("INSERT INTO users (name) VALUES (?), (?)").Bind("a", "b").Run(ctx)
	require.NoError(t, err)
	assert.True(t, res.Success)
	assert.Empty(t, res.Results)
	assert.NotNil(t, res.Results, "D1 returns results: []")
	assert.Equal(t, int64(2), res.Meta.Changes)
	assert.Equal(t, int64(2), res.Meta.LastRowID)
	assert.Equal(t, int64(2), res.Meta.RowsWritten)
	assert.True(t, res.Meta.ChangedDB)
	assert.Positive(t, res.Meta.SizeAfter)
	assert.Positive(t, res.Meta.Duration)

	res, err = db.Prepare("UPDATE users SET age = 30").Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Meta.Changes)
	assert.Equal(t, int64(2), res.Meta.LastRowID, "last_insert_rowid is kept, as D1 reports it")

	res, err = db.Prepare("SELECT * FROM users").All(ctx)
	require.NoError(t, err)
	assert.Len(t, res.Results, 2)
	assert.Equal(t, int64(0), res.Meta.Changes)
	assert.Equal(t, int64(2), res.Meta.RowsRead)
	assert.Equal(t, int64(0), res.Meta.RowsWritten)
	assert.False(t, res.Meta.ChangedDB)
	assert.Equal(t, []string{"id", "name", "email", "age", "score", "avatar", "created_at"}, res.Columns())

	res, err = db.Prepare("DELETE FROM users WHERE name = ?").Bind("nobody").Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), res.Meta.Changes)
	assert.False(t, res.Meta.ChangedDB)

	// Schema changes change no rows, but they do change the database.
	res, err = db.Prepare("CREATE TABLE more (x)").Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), res.Meta.Changes)
	assert.True(t, res.Meta.ChangedDB)
	assert.Greater(t, res.Meta.SizeAfter, int64(0))
}

func TestPreparedStatementsFollowSchema(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	mustExec(t, db, "CREATE TABLE t (a); INSERT INTO t VALUES (1)")

	sel := db.Prepare("SELECT * FROM t")
	cols, _, err := sel.RawWithColumns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, cols)

	mustExec(t, db, "ALTER TABLE t ADD COLUMN b DEFAULT 2")
	cols, rows, err := sel.RawWithColumns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, cols)
	assert.Equal(t, [][]any{{int64(1), int64(2)}}, rows)

	mustExec(t, db, "DROP TABLE t")
	_, err = sel.All(ctx)
	assert.ErrorContains(t, err, "no such table: t")

	// More distinct statements than a connection keeps prepared.
	for i := range 200 {
		v, err := db.Prepare(fmt.Sprintf("SELECT %d AS v", i)).FirstValue(ctx, "v")
		require.NoError(t, err)
		require.Equal(t, int64(i), v)
	}
}

func TestRunReturning(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, usersSchema)

	res, err := db.Prepare("INSERT INTO users (name, age) VALUES (?, ?) RETURNING id, name").Bind("ada", 36).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, []map[string]any{{"id": int64(1), "name": "ada"}}, res.Results)
	assert.Equal(t, int64(1), res.Meta.Changes)
}

func TestFirst(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, usersSchema+"INSERT INTO users (name, age) VALUES ('ada', 36), ('bob', 41);")

	row, err := db.Prepare("SELECT name, age FROM users ORDER BY id").First(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"name": "ada", "age": int64(36)}, row)

	row, err = db.Prepare("SELECT * FROM users WHERE id = ?").Bind(99).First(ctx)
	assert.NoError(t, err)
	assert.Nil(t, row, "no row is nil, nil")

	// First stops after one row, but a write has happened in full.
	row, err = db.Prepare("UPDATE users SET age = age + 1 RETURNING age").First(ctx)
	require.NoError(t, err)
	assert.NotNil(t, row)
	n, err := db.Prepare("SELECT count(*) AS n FROM users WHERE age IN (37, 42)").FirstValue(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestFirstValue(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, usersSchema+"INSERT INTO users (name, age) VALUES ('ada', NULL);")

	tests := []struct {
		name   string
		query  string
		column string
		want   any
		is     error
	}{
		{name: "value", query: "SELECT name FROM users", column: "name", want: "ada"},
		{name: "NULL", query: "SELECT age FROM users", column: "age", want: nil},
		{name: "no row", query: "SELECT name FROM users WHERE 0", column: "whatever", want: nil},
		{name: "missing column", query: "SELECT name FROM users", column: "nope", is: d1.ErrColumnNotFound},
		{name: "column names are exact", query: "SELECT name FROM users", column: "NAME", is: d1.ErrColumnNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Prepare(tt.query).FirstValue(ctx, tt.column)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
				assert.ErrorContains(t, err, tt.column)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRaw(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)

	// Raw keeps every column in order, even those a map would merge.
	cols, rows, err := db.Prepare("SELECT 1 AS a, 2 AS b, 3 AS a UNION ALL SELECT 4, 5, 6").RawWithColumns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "a"}, cols)
	assert.Equal(t, [][]any{{int64(1), int64(2), int64(3)}, {int64(4), int64(5), int64(6)}}, rows)

	res, err := db.Prepare("SELECT 1 AS a, 2 AS b, 3 AS a").All(ctx)
	require.NoError(t, err)
	assert.Equal(t, []map[string]any{{"a": int64(3), "b": int64(2)}}, res.Results, "the later column wins, as in D1")

	cols, rows, err = db.Prepare("SELECT 1 AS x WHERE 0").RawWithColumns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, cols, "names even without rows")
	assert.NotNil(t, rows)
	assert.Empty(t, rows)

	rows, err = db.Prepare("SELECT ?1, ?1 + ?2").Bind(1, 2).Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{int64(1), int64(3)}}, rows)
}

func TestValuesAsStored(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, `
		CREATE TABLE v (
			ts TIMESTAMP, dt DATETIME, d DATE, b BOOLEAN, blob BLOB, n NUMERIC
		);
		INSERT INTO v VALUES ('2024-01-02T03:04:05.500Z', '2024-01-02 03:04', '2024-01-02', 1, x'', 1.5);
		INSERT INTO v VALUES (1700000000, 'not a date', NULL, 0, NULL, '12');
	`)
	rows, err := db.Prepare("SELECT * FROM v").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{
		{"2024-01-02T03:04:05.500Z", "2024-01-02 03:04", "2024-01-02", int64(1), []byte{}, 1.5},
		{int64(1700000000), "not a date", nil, int64(0), nil, int64(12)},
	}, rows, "text in date columns is returned as stored, an empty BLOB is not NULL")

	// CURRENT_TIMESTAMP text comes back as SQLite wrote it.
	mustExec(t, db, usersSchema+"INSERT INTO users (name) VALUES ('ada');")
	row, err := db.Prepare("SELECT created_at, created_at = CURRENT_TIMESTAMP AS same FROM users").First(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, row["created_at"])
}

func TestPrepareErrors(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, "CREATE TABLE t (x)")

	tests := []struct {
		name  string
		query string
		args  []any
		is    error
		text  string // in the message
	}{
		{name: "empty", query: "", is: d1.ErrNoStatement},
		{name: "only comments", query: "-- hi\n/* there */ ;", is: d1.ErrNoStatement},
		{name: "two statements", query: "SELECT 1; SELECT 2", is: d1.ErrMultipleStatements},
		{name: "smuggled statement", query: "SELECT 1; DROP TABLE t", is: d1.ErrMultipleStatements},
		{name: "too few values", query: "SELECT ?, ?", args: []any{1}, is: d1.ErrParameterCount, text: "has 2, got 1"},
		{name: "too many values", query: "SELECT ?", args: []any{1, 2}, is: d1.ErrParameterCount, text: "has 1, got 2"},
		{name: "numbered", query: "SELECT ?3", args: []any{1}, is: d1.ErrParameterCount, text: "has 3, got 1"},
		{name: "named colon", query: "SELECT :a", args: []any{1}, is: d1.ErrNamedParameter},
		{name: "named at", query: "SELECT @a", args: []any{1}, is: d1.ErrNamedParameter},
		{name: "named dollar", query: "SELECT $a", args: []any{1}, is: d1.ErrNamedParameter},
		{name: "begin", query: "BEGIN TRANSACTION", is: d1.ErrTransactionStatement},
		{name: "commit", query: "commit", is: d1.ErrTransactionStatement},
		{name: "end", query: "END", is: d1.ErrTransactionStatement},
		{name: "rollback", query: "ROLLBACK", is: d1.ErrTransactionStatement},
		{name: "savepoint", query: "SAVEPOINT a", is: d1.ErrTransactionStatement},
		{name: "release", query: "RELEASE a", is: d1.ErrTransactionStatement},
		{name: "syntax", query: "SELEKT 1", text: "syntax error"},
		{name: "no such table", query: "SELECT * FROM nope", text: "no such table: nope"},
		{name: "index out of range", query: "SELECT ?0", args: []any{1}, text: "variable number must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Prepare(tt.query).Bind(tt.args...).All(ctx)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			if tt.text != "" {
				assert.ErrorContains(t, err, tt.text)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "d1: "), err.Error())
		})
	}

	// The smuggled DROP did not run.
	_, err := db.Prepare("SELECT * FROM t").All(ctx)
	assert.NoError(t, err)
}

func TestSQLErrorCarriesQuery(t *testing.T) {
	db := openMemory(t)
	long := "SELECT * FROM nope WHERE " + strings.Repeat("x = 1 AND ", 50) + "1"
	_, err := db.Prepare(long).All(context.Background())
	var e *d1.Error
	require.ErrorAs(t, err, &e)
	assert.True(t, strings.HasPrefix(e.Query, "SELECT * FROM nope WHERE x = 1"))
	assert.LessOrEqual(t, len(e.Query), 130, "shortened")
	assert.NotNil(t, errors.Unwrap(err), "the driver error is kept")
}

func TestNilStatement(t *testing.T) {
	ctx := context.Background()
	var s *d1.Statement
	_, err := s.All(ctx)
	assert.ErrorIs(t, err, d1.ErrNilStatement)
	_, err = s.Bind(1).Run(ctx)
	assert.ErrorIs(t, err, d1.ErrNilStatement)
	_, err = s.First(ctx)
	assert.ErrorIs(t, err, d1.ErrNilStatement)
	_, err = new(d1.Statement).All(ctx)
	assert.ErrorIs(t, err, d1.ErrNoStatement, "a zero Statement")
}

func TestCreateTrigger(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, "CREATE TABLE t (x); CREATE TABLE log (x)")
	// A trigger body's semicolons do not split the statement.
	_, err := db.Prepare(`CREATE TRIGGER t_log AFTER INSERT ON t BEGIN
		INSERT INTO log VALUES (NEW.x);
		INSERT INTO log VALUES (NEW.x * 10);
	END;`).Run(ctx)
	require.NoError(t, err)

	res, err := db.Prepare("INSERT INTO t VALUES (?)").Bind(4).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Meta.Changes, "rows changed by triggers count, as in D1")

	rows, err := db.Prepare("SELECT x FROM log ORDER BY x").Raw(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{int64(4)}, {int64(40)}}, rows)
}
