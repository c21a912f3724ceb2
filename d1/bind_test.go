package d1_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

type userID int64

type label string

type celsius float32

type flag bool

// upper is a driver.Valuer.
type upper string

func (u upper) Value() (driver.Value, error) { return "U:" + string(u), nil }

type failingValuer struct{}

func (failingValuer) Value() (driver.Value, error) { return nil, errors.New("no value") }

func TestBindTypes(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)

	var (
		i    = 7
		s    = "str"
		nilS *string
		when = time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("CET", 3600))
	)
	tests := []struct {
		name     string
		arg      any
		want     any
		wantType string // SQLite's typeof()
	}{
		{name: "nil", arg: nil, want: nil, wantType: "null"},
		{name: "true", arg: true, want: int64(1), wantType: "integer"},
		{name: "false", arg: false, want: int64(0), wantType: "integer"},
		{name: "int", arg: -5, want: int64(-5), wantType: "integer"},
		{name: "int8", arg: int8(-8), want: int64(-8), wantType: "integer"},
		{name: "int16", arg: int16(16), want: int64(16), wantType: "integer"},
		{name: "int32", arg: int32(math.MinInt32), want: int64(math.MinInt32), wantType: "integer"},
		{name: "int64", arg: int64(math.MaxInt64), want: int64(math.MaxInt64), wantType: "integer"},
		{name: "uint", arg: uint(9), want: int64(9), wantType: "integer"},
		{name: "uint8", arg: uint8(255), want: int64(255), wantType: "integer"},
		{name: "uint16", arg: uint16(65535), want: int64(65535), wantType: "integer"},
		{name: "uint32", arg: uint32(math.MaxUint32), want: int64(math.MaxUint32), wantType: "integer"},
		{name: "uint64 max int64", arg: uint64(math.MaxInt64), want: int64(math.MaxInt64), wantType: "integer"},
		{name: "float32", arg: float32(0.5), want: 0.5, wantType: "real"},
		{name: "float64", arg: 3.25, want: 3.25, wantType: "real"},
		{name: "string", arg: "héllo", want: "héllo", wantType: "text"},
		{name: "empty string", arg: "", want: "", wantType: "text"},
		{name: "bytes", arg: []byte{0, 1, 2}, want: []byte{0, 1, 2}, wantType: "blob"},
		{name: "empty bytes", arg: []byte{}, want: []byte{}, wantType: "blob"},
		{name: "nil bytes", arg: []byte(nil), want: nil, wantType: "null"},
		{name: "time", arg: when, want: "2024-01-02T02:04:05.6Z", wantType: "text"},
		{name: "pointer", arg: &i, want: int64(7), wantType: "integer"},
		{name: "string pointer", arg: &s, want: "str", wantType: "text"},
		{name: "nil pointer", arg: nilS, want: nil, wantType: "null"},
		{name: "defined int", arg: userID(42), want: int64(42), wantType: "integer"},
		{name: "defined string", arg: label("x"), want: "x", wantType: "text"},
		{name: "defined float", arg: celsius(1.5), want: 1.5, wantType: "real"},
		{name: "defined bool", arg: flag(true), want: int64(1), wantType: "integer"},
		{name: "valuer", arg: upper("a"), want: "U:a", wantType: "text"},
		{name: "sql.NullString", arg: sql.NullString{String: "n", Valid: true}, want: "n", wantType: "text"},
		{name: "invalid sql.NullInt64", arg: sql.NullInt64{}, want: nil, wantType: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := db.Prepare("SELECT ?1 AS v, typeof(?1) AS t").Bind(tt.arg).First(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, row["v"])
			assert.Equal(t, tt.wantType, row["t"])
		})
	}
}

func TestBindErrors(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	i := 1
	pi := &i

	tests := []struct {
		name string
		args []any
		is   error
		text string
	}{
		{name: "uint64 too big", args: []any{uint64(math.MaxInt64) + 1}, is: d1.ErrOutOfRange, text: "argument 0, uint64"},
		{name: "uint too big", args: []any{1, uint(math.MaxUint)}, is: d1.ErrOutOfRange, text: "argument 1, uint"},
		{name: "channel", args: []any{make(chan int)}, is: d1.ErrUnsupportedType, text: "argument 0, chan int"},
		{name: "struct", args: []any{1, struct{ A int }{}}, is: d1.ErrUnsupportedType, text: "argument 1, struct { A int }"},
		{name: "map", args: []any{map[string]int{}}, is: d1.ErrUnsupportedType, text: "map[string]int"},
		{name: "slice of int", args: []any{[]int{1}}, is: d1.ErrUnsupportedType, text: "[]int"},
		{name: "func", args: []any{func() {}}, is: d1.ErrUnsupportedType, text: "func()"},
		{name: "pointer to pointer", args: []any{&pi}, is: d1.ErrUnsupportedType, text: "**int"},
		{name: "complex", args: []any{1 + 2i}, is: d1.ErrUnsupportedType, text: "complex128"},
		{name: "failing valuer", args: []any{failingValuer{}}, text: "no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "uint too big" && strconv.IntSize == 32 {
				t.Skip("every uint fits an int64 where uint is 32 bits")
			}
			qs := "SELECT ?"
			if len(tt.args) == 2 {
				qs = "SELECT ?, ?"
			}
			_, err := db.Prepare(qs).Bind(tt.args...).All(ctx)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.ErrorContains(t, err, tt.text)
		})
	}
}

func TestValuesAreNeverSpliced(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t)
	mustExec(t, db, usersSchema)
	evil := "x'); DROP TABLE users; --"
	_, err := db.Prepare("INSERT INTO users (name) VALUES (?)").Bind(evil).Run(ctx)
	require.NoError(t, err)
	got, err := db.Prepare("SELECT name FROM users").FirstValue(ctx, "name")
	require.NoError(t, err)
	assert.Equal(t, evil, got)
}
