package workers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Box runs the test's code against its storage, inside a call: funcs cross
// by reference, so fn runs on the object, in its turn.
type Box struct{ workers.DurableObject }

func (b *Box) Do(ctx context.Context, fn func(context.Context, *workers.Storage) error) error {
	return fn(ctx, b.State.Storage())
}

func (b *Box) Alarm(ctx context.Context) error { return nil }

func boxes(t testing.TB, dir string) *workers.DurableObjectNamespace {
	t.Helper()
	reg := doRegistryAt(t, dir)
	register(t, reg, "app", workers.Worker{DurableObjects: map[string]workers.Constructor{"Box": workers.New[Box]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "app", ClassName: "Box"})
}

// in runs fn in a call of the object name.
func in(t testing.TB, ns *workers.DurableObjectNamespace, name string, fn func(context.Context, *workers.Storage) error) error {
	t.Helper()
	return errOnly(ns.GetByName(name).Call(context.Background(), "Do", fn))
}

type Address struct {
	Street string
	Zip    int
}

type Person struct {
	Name   string
	Age    int
	Tags   []string
	Home   *Address
	Born   time.Time
	Scores map[string]float64
}

// Secretive keeps data in an unexported field, which storage would lose.
type Secretive struct {
	Name    string
	private int
}

func roundTrip[T any](t *testing.T, s *workers.Storage, key string, v T) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, key, v))
	got, ok, err := workers.StorageGet[T](ctx, s, key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, v, got, "%s as %T", key, v)
	asAny, ok, err := workers.StorageGet[any](ctx, s, key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, any(v), asAny, "%s as any: the type it was put with", key)
}

func TestStorageValuesRoundTrip(t *testing.T) {
	ns := boxes(t, t.TempDir())
	born := time.Date(1990, 5, 17, 8, 30, 0, 123456789, time.UTC)
	require.NoError(t, in(t, ns, "v", func(ctx context.Context, s *workers.Storage) error {
		roundTrip(t, s, "int", 42)
		roundTrip(t, s, "neg", int64(-1<<62))
		roundTrip(t, s, "uint8", uint8(200))
		roundTrip(t, s, "float", 1.5)
		roundTrip(t, s, "string", "héllo")
		roundTrip(t, s, "empty", "")
		roundTrip(t, s, "bool", true)
		roundTrip(t, s, "bytes", []byte{0, 1, 255})
		roundTrip(t, s, "time", born)
		roundTrip(t, s, "duration", 3*time.Second)
		roundTrip(t, s, "strings", []string{"a", "b"})
		roundTrip(t, s, "map", map[string]int{"a": 1})
		roundTrip(t, s, "json", map[string]any{"a": "x", "b": []any{"y"}})
		roundTrip(t, s, "struct", Person{Name: "Ada", Age: 36, Tags: []string{"x"}, Home: &Address{"Main", 1234}, Born: born, Scores: map[string]float64{"m": 1}})
		roundTrip(t, s, "pointer", &Address{"Side", 99})
		roundTrip(t, s, "slice of structs", []Address{{"A", 1}, {"B", 2}})

		// A copy is stored: changing the value afterwards changes nothing.
		p := Person{Name: "Bob", Tags: []string{"t"}, Home: &Address{Zip: 1}}
		require.NoError(t, s.Put(ctx, "copy", p))
		p.Tags[0], p.Home.Zip = "changed", 2
		got, _, err := workers.StorageGet[Person](ctx, s, "copy")
		require.NoError(t, err)
		assert.Equal(t, "t", got.Tags[0])
		assert.Equal(t, 1, got.Home.Zip)
		got.Tags[0] = "mine"
		again, _, err := workers.StorageGet[Person](ctx, s, "copy")
		require.NoError(t, err)
		assert.Equal(t, "t", again.Tags[0], "each read is a copy")

		// Data that would not come back whole is refused, as a call refuses
		// to copy it: unexported fields holding data, references.
		for _, tc := range []struct {
			v    any
			want string
		}{
			{Secretive{private: 5}, "unexported field private"},
			{make(chan int), "chan int cannot be stored"},
			{func() {}, "func() cannot be stored"},
			{&workers.Binding{}, "crosses calls by reference"},
			{[]*workers.Stub{nil}, "crosses calls by reference"},
			{struct{ F func() }{}, "field F: a func() cannot be stored"},
			{map[string]context.Context{}, ""},
		} {
			err := s.Put(ctx, "bad", tc.v)
			if tc.want == "" {
				assert.NoError(t, err, "%T", tc.v)
				continue
			}
			assert.ErrorIs(t, err, workers.ErrInvalidArgument, "%T", tc.v)
			assert.ErrorContains(t, err, tc.want, "%T", tc.v)
		}

		// Missing keys, wrong types.
		_, ok, err := workers.StorageGet[int](ctx, s, "missing")
		assert.NoError(t, err)
		assert.False(t, ok)
		_, _, err = workers.StorageGet[int](ctx, s, "string")
		assert.ErrorContains(t, err, `Get "string": stored value does not decode into int`)
		return nil
	}))
}

func TestStorageRefusesWhatCannotBeStored(t *testing.T) {
	ns := boxes(t, t.TempDir())
	require.NoError(t, in(t, ns, "r", func(ctx context.Context, s *workers.Storage) error {
		err := s.Put(ctx, strings.Repeat("k", workers.MaxKeyBytes+1), 1)
		assert.ErrorIs(t, err, workers.ErrInvalidArgument)
		assert.ErrorContains(t, err, "key of 2049 bytes")
		err = s.Put(ctx, "ch", make(chan int))
		assert.ErrorIs(t, err, workers.ErrInvalidArgument)
		assert.ErrorContains(t, err, `Put "ch": value of type chan int cannot be stored: a chan int cannot be stored`)
		err = s.Put(ctx, "big", make([]byte, workers.MaxValueBytes))
		assert.ErrorIs(t, err, workers.ErrInvalidArgument)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		assert.ErrorIs(t, s.Put(canceled, "k", 1), context.Canceled)
		return nil
	}))
}

func TestStorageDeleteAndList(t *testing.T) {
	ns := boxes(t, t.TempDir())
	require.NoError(t, in(t, ns, "l", func(ctx context.Context, s *workers.Storage) error {
		for _, k := range []string{"b", "a", "user:2", "user:10", "user:1", "z", "user;", "user"} {
			require.NoError(t, s.Put(ctx, k, k+"!"))
		}
		keys := func(opts workers.ListOptions) []string {
			es, err := s.List(ctx, opts)
			require.NoError(t, err)
			out := []string{}
			for _, e := range es {
				assert.Equal(t, e.Key+"!", e.Value)
				out = append(out, e.Key)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			opts workers.ListOptions
			want []string
		}{
			{"all", workers.ListOptions{}, []string{"a", "b", "user", "user:1", "user:10", "user:2", "user;", "z"}},
			{"prefix", workers.ListOptions{Prefix: "user:"}, []string{"user:1", "user:10", "user:2"}},
			{"start", workers.ListOptions{Start: "user:10"}, []string{"user:10", "user:2", "user;", "z"}},
			{"end", workers.ListOptions{End: "user"}, []string{"a", "b"}},
			{"start end", workers.ListOptions{Start: "b", End: "user:2"}, []string{"b", "user", "user:1", "user:10"}},
			{"limit", workers.ListOptions{Limit: 2}, []string{"a", "b"}},
			{"reverse", workers.ListOptions{Reverse: true, Limit: 3}, []string{"z", "user;", "user:2"}},
			{"prefix reverse limit", workers.ListOptions{Prefix: "user:", Reverse: true, Limit: 2}, []string{"user:2", "user:10"}},
			{"prefix and start", workers.ListOptions{Prefix: "user:", Start: "user:10"}, []string{"user:10", "user:2"}},
			{"nothing", workers.ListOptions{Prefix: "nope"}, []string{}},
		} {
			assert.Equal(t, tc.want, keys(tc.opts), tc.name)
		}
		_, err := s.List(ctx, workers.ListOptions{Limit: -1})
		assert.ErrorIs(t, err, workers.ErrInvalidArgument)

		ok, err := s.Delete(ctx, "a")
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = s.Delete(ctx, "a")
		require.NoError(t, err)
		assert.False(t, ok)

		// DeleteAll: the keys and the object's tables go, the alarm stays.
		_, err = s.SQL().ExecContext(ctx, `CREATE TABLE t (x); INSERT INTO t VALUES (1)`)
		require.NoError(t, err)
		at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		require.NoError(t, s.SetAlarm(ctx, at))
		require.NoError(t, s.DeleteAll(ctx))
		assert.Empty(t, keys(workers.ListOptions{}))
		_, err = s.SQL().ExecContext(ctx, `SELECT * FROM t`)
		assert.ErrorContains(t, err, "no such table")
		got, ok, err := s.GetAlarm(ctx)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.True(t, at.Equal(got))
		return s.DeleteAlarm(ctx)
	}))
}

func TestStorageTransaction(t *testing.T) {
	ns := boxes(t, t.TempDir())
	fail := errors.New("fail")
	get := func(ctx context.Context, s *workers.Storage, key string) (int, bool) {
		v, ok, err := workers.StorageGet[int](ctx, s, key)
		require.NoError(t, err)
		return v, ok
	}
	require.NoError(t, in(t, ns, "tx", func(ctx context.Context, s *workers.Storage) error {
		_, err := s.SQL().ExecContext(ctx, `CREATE TABLE t (x)`)
		require.NoError(t, err)

		// All: committed together.
		require.NoError(t, s.Transaction(ctx, func(tx *workers.Storage) error {
			require.NoError(t, tx.Put(ctx, "a", 1))
			require.NoError(t, tx.Put(ctx, "b", 2))
			v, _ := get(ctx, tx, "a")
			assert.Equal(t, 1, v, "a transaction reads its own writes")
			return nil
		}))
		v, _ := get(ctx, s, "b")
		assert.Equal(t, 2, v)

		// Nothing: an error rolls back every write, SQL too.
		err = s.Transaction(ctx, func(tx *workers.Storage) error {
			require.NoError(t, tx.Put(ctx, "a", 10))
			_, err := tx.Delete(ctx, "b")
			require.NoError(t, err)
			_, err = tx.SQL().ExecContext(ctx, `INSERT INTO t VALUES (1)`)
			require.NoError(t, err)
			return fail
		})
		assert.Same(t, fail, err)
		v, _ = get(ctx, s, "a")
		assert.Equal(t, 1, v)
		_, ok := get(ctx, s, "b")
		assert.True(t, ok)
		var rows int
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&rows))
		assert.Zero(t, rows)

		// A panic rolls back too, and goes on.
		assert.PanicsWithValue(t, "tx panic", func() {
			_ = s.Transaction(ctx, func(tx *workers.Storage) error {
				require.NoError(t, tx.Put(ctx, "a", 20))
				panic("tx panic")
			})
		})
		v, _ = get(ctx, s, "a")
		assert.Equal(t, 1, v)

		// Nested: the inner one rolls back alone.
		require.NoError(t, s.Transaction(ctx, func(tx *workers.Storage) error {
			require.NoError(t, tx.Put(ctx, "outer", 1))
			err := tx.Transaction(ctx, func(inner *workers.Storage) error {
				require.NoError(t, inner.Put(ctx, "inner", 1))
				return fail
			})
			assert.Same(t, fail, err)
			_, ok := get(ctx, tx, "inner")
			assert.False(t, ok)
			return tx.Transaction(ctx, func(inner *workers.Storage) error { return inner.Put(ctx, "inner2", 2) })
		}))
		_, ok = get(ctx, s, "outer")
		assert.True(t, ok)
		_, ok = get(ctx, s, "inner")
		assert.False(t, ok)
		_, ok = get(ctx, s, "inner2")
		assert.True(t, ok)
		return nil
	}))

	// A panic in a transaction reaches the caller as a *PanicError, and the
	// object and its storage keep working.
	err := in(t, ns, "tx", func(ctx context.Context, s *workers.Storage) error {
		return s.Transaction(ctx, func(tx *workers.Storage) error {
			_ = tx.Put(ctx, "a", 30)
			panic("in call")
		})
	})
	var pe *workers.PanicError
	require.ErrorAs(t, err, &pe)
	require.NoError(t, in(t, ns, "tx", func(ctx context.Context, s *workers.Storage) error {
		v, _ := get(ctx, s, "a")
		assert.Equal(t, 1, v)
		return nil
	}))
}

func TestStorageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ns := boxes(t, dir)
	id := ns.IDFromName("keep")
	require.NoError(t, in(t, ns, "keep", func(ctx context.Context, s *workers.Storage) error {
		require.NoError(t, s.Put(ctx, "k", Address{"Kept", 7}))
		_, err := s.SQL().ExecContext(ctx, `CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')`)
		return err
	}))
	// One file per object, where Miniflare keeps it.
	_, err := os.Stat(filepath.Join(dir, "do", "app-Box", id.String()+".sqlite"))
	require.NoError(t, err)

	ns2 := boxes(t, dir)
	require.NoError(t, in(t, ns2, "keep", func(ctx context.Context, s *workers.Storage) error {
		v, ok, err := workers.StorageGet[Address](ctx, s, "k")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, Address{"Kept", 7}, v)
		var body string
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT body FROM notes`).Scan(&body))
		assert.Equal(t, "hi", body)
		return nil
	}))
	// Another object's storage is its own.
	require.NoError(t, in(t, ns2, "other", func(ctx context.Context, s *workers.Storage) error {
		_, ok, err := workers.StorageGet[Address](ctx, s, "k")
		require.NoError(t, err)
		assert.False(t, ok)
		return nil
	}))
}
