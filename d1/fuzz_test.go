package d1_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/d1"
)

// FuzzBind checks that every value survives the trip through a bound
// parameter and back unchanged, or fails with an error, never a panic.
func FuzzBind(f *testing.F) {
	f.Add(int64(0), uint64(0), 0.0, "", []byte(nil), false)
	f.Add(int64(math.MinInt64), uint64(math.MaxInt64), math.Inf(-1), "x'); DROP TABLE t; --", []byte{}, true)
	f.Add(int64(math.MaxInt64), uint64(math.MaxUint64), math.NaN(), "\x00\xff\xfe", []byte{0, 0xff}, true)
	f.Add(int64(-1), uint64(1<<63), math.Copysign(0, -1), "héllo wörld ✓", []byte("blob"), false)

	db, err := d1.OpenMemory()
	require.NoError(f, err)
	f.Cleanup(func() { _ = db.Close() })
	stmt := db.Prepare("SELECT ?1, ?2, ?3, ?4, ?5, ?6, typeof(?4)")

	f.Fuzz(func(t *testing.T, i int64, u uint64, fl float64, s string, b []byte, flag bool) {
		rows, err := stmt.Bind(i, u, fl, s, b, flag).Raw(context.Background())
		if u > math.MaxInt64 {
			assert.ErrorIs(t, err, d1.ErrOutOfRange)
			return
		}
		require.NoError(t, err)
		require.Len(t, rows, 1)
		row := rows[0]
		assert.Equal(t, i, row[0])
		assert.Equal(t, int64(u), row[1])
		switch {
		case math.IsNaN(fl):
			assert.Nil(t, row[2], "SQLite stores NaN as NULL")
		default:
			assert.Equal(t, fl, row[2])
		}
		assert.Equal(t, s, row[3])
		assert.Equal(t, "text", row[6])
		if b == nil {
			assert.Nil(t, row[4])
		} else {
			assert.Equal(t, b, row[4])
		}
		want := int64(0)
		if flag {
			want = 1
		}
		assert.Equal(t, want, row[5])
	})
}

// FuzzPrepare runs arbitrary SQL text, and arbitrary values bound to it,
// through Prepare and All: whatever the input, the result is rows or an
// error, never a panic or a hang.
func FuzzPrepare(f *testing.F) {
	for _, seed := range []string{
		"SELECT 1",
		"SELECT ?, ?2",
		"SELECT 1; SELECT 2",
		"CREATE TABLE IF NOT EXISTS t (a, b); INSERT INTO t VALUES (?, ?)",
		"INSERT INTO t VALUES (?, ?) RETURNING *",
		"CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN DELETE FROM t WHERE a = NEW.a; END",
		"SELECT ';', \"?\", `x`, [y] -- ?\n/* ; */",
		"SELECT :a, @b, $c",
		"BEGIN",
		"SELECT ?0, ?99999",
		"SELECT 'unterminated",
		"/* unterminated",
		"",
	} {
		f.Add(seed, "v", int64(1))
	}

	// Whatever the SQL writes lands in a directory of its own.
	f.Chdir(f.TempDir())
	db, err := d1.OpenMemory()
	require.NoError(f, err)
	f.Cleanup(func() { _ = db.Close() })

	f.Fuzz(func(t *testing.T, query, s string, n int64) {
		lower := strings.ToLower(query)
		if strings.Contains(lower, "attach") || strings.Contains(lower, "vacuum") {
			t.Skip("could write files outside the database")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		stmt := db.Prepare(query)
		for _, args := range [][]any{nil, {s}, {s, n}} {
			res, err := stmt.Bind(args...).All(ctx)
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "d1: ") || errors.Is(err, context.DeadlineExceeded), err.Error())
				continue
			}
			assert.True(t, res.Success)
			for _, row := range res.Results {
				for _, v := range row {
					switch v.(type) {
					case nil, int64, float64, string, []byte:
					default:
						t.Errorf("value %#v of type %T", v, v)
					}
				}
			}
		}

		texts, _ := d1.SplitSQL(query)
		for _, text := range texts {
			assert.NotEmpty(t, text)
			assert.True(t, strings.Contains(query, text), "a statement is a part of the input")
			if r, _ := utf8.DecodeRuneInString(text); r == ' ' || r == '\n' || r == '\t' {
				t.Errorf("statement %q starts with space", text)
			}
		}
	})
}
