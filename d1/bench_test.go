package d1_test

import (
	"context"
	"testing"

	"github.com/seed-29c11ff2/workers/d1"
)

func benchDB(b *testing.B) *d1.Database {
	b.Helper()
	db := openFile(b)
	mustExec(b, db, usersSchema)
	insert := db.Prepare("INSERT INTO users (name, age) VALUES (?, ?)")
	for i := range 1000 {
		if _, err := insert.Bind("user"+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('0'+i/260)), i).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkPrepareBindFirst is the common D1 round trip: prepare, bind a
// key, read one row.
func BenchmarkPrepareBindFirst(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		row, err := db.Prepare("SELECT id, name, age FROM users WHERE id = ?").Bind(i%1000 + 1).First(ctx)
		if err != nil || row == nil {
			b.Fatal(err, row)
		}
		i++
	}
}

// BenchmarkFirstAs adds the struct mapping to the round trip.
func BenchmarkFirstAs(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	stmt := db.Prepare("SELECT id, name, age FROM users WHERE id = ?")
	type user struct {
		ID   int64
		Name string
		Age  int
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok, err := d1.FirstAs[user](ctx, stmt.Bind(i%1000+1)); err != nil || !ok {
			b.Fatal(err, ok)
		}
		i++
	}
}

// BenchmarkInsert is one autocommit write: a WAL commit per iteration.
func BenchmarkInsert(b *testing.B) {
	ctx := context.Background()
	db := openFile(b)
	mustExec(b, db, "CREATE TABLE t (x INTEGER)")
	insert := db.Prepare("INSERT INTO t VALUES (?)")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := insert.Bind(i).Run(ctx); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
