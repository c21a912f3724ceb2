package d1_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

type Timestamps struct {
	CreatedAt time.Time
}

type user struct {
	ID       int64
	Name     string
	Mail     *string `d1:"email,omitempty"`
	Age      int
	Score    float64
	Avatar   []byte
	Ignored  string `d1:"-"`
	internal string // unexported: never set
	Timestamps
}

func seedUsers(t *testing.T) *d1.Database {
	t.Helper()
	db := openMemory(t)
	mustExec(t, db, usersSchema+`
		INSERT INTO users (name, email, age, score, avatar, created_at)
		VALUES ('ada', 'ada@example.com', 36, 9.5, x'01ff', '2024-01-02 03:04:05'),
		       ('bob', NULL, 41, NULL, NULL, '2024-02-03T04:05:06Z');
	`)
	return db
}

func TestAllAs(t *testing.T) {
	ctx := context.Background()
	db := seedUsers(t)

	users, err := d1.AllAs[user](ctx, db.Prepare("SELECT *, 'x' AS ignored, 1 AS unknown_column FROM users ORDER BY id"))
	require.NoError(t, err)
	require.Len(t, users, 2)

	mail := "ada@example.com"
	assert.Equal(t, user{
		ID: 1, Name: "ada", Mail: &mail, Age: 36, Score: 9.5, Avatar: []byte{1, 0xff},
		Timestamps: Timestamps{CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	}, users[0])
	assert.Equal(t, user{
		ID: 2, Name: "bob", Age: 41,
		Timestamps: Timestamps{CreatedAt: time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)},
	}, users[1], "NULL leaves the zero value")

	none, err := d1.AllAs[user](ctx, db.Prepare("SELECT * FROM users WHERE 0"))
	require.NoError(t, err)
	assert.NotNil(t, none)
	assert.Empty(t, none)
}

func TestFirstAs(t *testing.T) {
	ctx := context.Background()
	db := seedUsers(t)

	u, ok, err := d1.FirstAs[user](ctx, db.Prepare("SELECT id, name FROM users WHERE name = ?").Bind("bob"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, user{ID: 2, Name: "bob"}, u)

	u, ok, err = d1.FirstAs[user](ctx, db.Prepare("SELECT * FROM users WHERE name = ?").Bind("nobody"))
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Zero(t, u)
}

func TestScanConversions(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)

	type target struct {
		Bool     bool
		Int8     int8
		Uint     uint
		Float32  float32
		FromReal int
		Text     []byte
		Blob     string
		Any      any
		Nullable sql.NullString
		Ptr      *int
		Unix     time.Time
	}
	got, ok, err := d1.FirstAs[target](ctx, db.Prepare(`SELECT
		1 AS bool, -8 AS int8, 7 AS uint, 0.25 AS float32, 3.0 AS from_real,
		'txt' AS text, x'6869' AS blob, 'raw' AS any, 'n' AS nullable, 5 AS ptr,
		1700000000 AS unix`))
	require.NoError(t, err)
	require.True(t, ok)
	five := 5
	assert.Equal(t, target{
		Bool: true, Int8: -8, Uint: 7, Float32: 0.25, FromReal: 3,
		Text: []byte("txt"), Blob: "hi", Any: "raw",
		Nullable: sql.NullString{String: "n", Valid: true}, Ptr: &five,
		Unix: time.Unix(1700000000, 0).UTC(),
	}, got)
}

func TestScanErrors(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)

	type small struct{ N int8 }
	type unsigned struct{ N uint }
	type text struct{ N string }
	type when struct{ N time.Time }
	type stringer struct{ N interface{ String() string } }

	tests := []struct {
		name  string
		query string
		run   func(*d1.Statement) error
		field string
	}{
		{name: "overflow", query: "SELECT 300 AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[small](ctx, s)
			return err
		}, field: "small.N"},
		{name: "negative into uint", query: "SELECT -1 AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[unsigned](ctx, s)
			return err
		}, field: "unsigned.N"},
		{name: "fraction into int", query: "SELECT 1.5 AS n", run: func(s *d1.Statement) error {
			_, _, err := d1.FirstAs[small](ctx, s)
			return err
		}, field: "small.N"},
		{name: "integer into string", query: "SELECT 1 AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[text](ctx, s)
			return err
		}, field: "text.N"},
		{name: "text into int", query: "SELECT 'one' AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[small](ctx, s)
			return err
		}, field: "small.N"},
		{name: "bad time", query: "SELECT 'yesterday' AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[when](ctx, s)
			return err
		}, field: "when.N"},
		{name: "interface with methods", query: "SELECT 'x' AS n", run: func(s *d1.Statement) error {
			_, err := d1.AllAs[stringer](ctx, s)
			return err
		}, field: "stringer.N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(db.Prepare(tt.query))
			assert.ErrorIs(t, err, d1.ErrScanType)
			assert.ErrorContains(t, err, `column "n"`)
			assert.ErrorContains(t, err, tt.field)
		})
	}
}

func TestScanNotStruct(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	_, err := d1.AllAs[int](ctx, db.Prepare("SELECT 1"))
	assert.ErrorIs(t, err, d1.ErrNotStruct)
	_, _, err = d1.FirstAs[*user](ctx, db.Prepare("SELECT 1"))
	assert.ErrorIs(t, err, d1.ErrNotStruct)
}

func TestScanStatementError(t *testing.T) {
	db := openMemory(t)
	_, err := d1.AllAs[user](context.Background(), db.Prepare("SELECT * FROM nope"))
	assert.ErrorContains(t, err, "no such table")
	_, _, err = d1.FirstAs[user](context.Background(), nil)
	assert.ErrorIs(t, err, d1.ErrNilStatement)
}
