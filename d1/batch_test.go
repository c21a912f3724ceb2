package d1_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

func TestBatch(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	mustExec(t, db, usersSchema)

	insert := db.Prepare("INSERT INTO users (name, age) VALUES (?, ?)")
	results, err := db.Batch(ctx,
		insert.Bind("ada", 36),
		insert.Bind("bob", 41),
		db.Prepare("UPDATE users SET age = age + 1 WHERE name = ?").Bind("ada"),
		db.Prepare("SELECT name, age FROM users ORDER BY id"),
	)
	require.NoError(t, err)
	require.Len(t, results, 4)
	assert.Equal(t, int64(1), results[0].Meta.LastRowID)
	assert.Equal(t, int64(2), results[1].Meta.LastRowID)
	assert.Equal(t, int64(1), results[2].Meta.Changes)
	assert.Equal(t, []map[string]any{
		{"name": "ada", "age": int64(37)},
		{"name": "bob", "age": int64(41)},
	}, results[3].Results, "a statement sees the changes of those before it")
	for _, r := range results {
		assert.True(t, r.Success)
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	insert := "INSERT INTO users (name) VALUES (?)"

	tests := []struct {
		name  string
		stmts func(db *d1.Database) []*d1.Statement
		index int
		is    error
	}{
		{
			name: "constraint",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), db.Prepare(insert).Bind("b"), db.Prepare(insert).Bind("a")}
			},
			index: 2,
		},
		{
			name: "SQL error",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), db.Prepare("INSERT INTO nope VALUES (1)")}
			},
			index: 1,
		},
		{
			name: "bind error",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), db.Prepare(insert).Bind(make(chan int))}
			},
			index: 1, is: d1.ErrUnsupportedType,
		},
		{
			name: "wrong count",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), db.Prepare(insert)}
			},
			index: 1, is: d1.ErrParameterCount,
		},
		{
			name: "nil statement",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), nil}
			},
			index: 1, is: d1.ErrNilStatement,
		},
		{
			name: "statement of another database",
			stmts: func(db *d1.Database) []*d1.Statement {
				other := openMemory(t)
				return []*d1.Statement{db.Prepare(insert).Bind("a"), other.Prepare("SELECT 1")}
			},
			index: 1, is: d1.ErrForeignStatement,
		},
		{
			name: "transaction statement",
			stmts: func(db *d1.Database) []*d1.Statement {
				return []*d1.Statement{db.Prepare(insert).Bind("a"), db.Prepare("COMMIT")}
			},
			index: 1, is: d1.ErrTransactionStatement,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openFile(t)
			mustExec(t, db, usersSchema+"INSERT INTO users (name) VALUES ('before');")

			results, err := db.Batch(ctx, tt.stmts(db)...)
			assert.Nil(t, results)
			var se *d1.StatementError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.index, se.Index)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}

			rows, err := db.Prepare("SELECT name FROM users").Raw(ctx)
			require.NoError(t, err)
			assert.Equal(t, [][]any{{"before"}}, rows, "nothing of the batch remains")

			// The connection is not left inside a transaction.
			_, err = db.Prepare(insert).Bind("after").Run(ctx)
			require.NoError(t, err)
		})
	}
}

func TestBatchEmpty(t *testing.T) {
	db := openMemory(t)
	results, err := db.Batch(context.Background())
	require.NoError(t, err)
	assert.Empty(t, results)
}

func TestBatchCanceled(t *testing.T) {
	db := openFile(t)
	mustExec(t, db, usersSchema)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Batch(ctx, db.Prepare("INSERT INTO users (name) VALUES ('x')"))
	assert.ErrorIs(t, err, context.Canceled)

	n, err := db.Prepare("SELECT count(*) AS n FROM users").FirstValue(context.Background(), "n")
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)
}
