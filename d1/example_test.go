package d1_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/seed-29c11ff2/workers/d1"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "d1-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := d1.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if _, err := db.Exec(ctx, `
		CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, admin BOOLEAN);
	`); err != nil {
		log.Fatal(err)
	}

	insert := db.Prepare("INSERT INTO users (name, admin) VALUES (?, ?)")
	res, err := insert.Bind("ada", true).Run(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changes:", res.Meta.Changes, "last_row_id:", res.Meta.LastRowID)

	row, err := db.Prepare("SELECT * FROM users WHERE id = ?").Bind(res.Meta.LastRowID).First(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(row["name"], row["admin"])
	// Output:
	// changes: 1 last_row_id: 1
	// ada 1
}

func ExampleDatabase_Batch() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER CHECK (balance >= 0))"); err != nil {
		log.Fatal(err)
	}

	deposit := db.Prepare("INSERT INTO accounts VALUES (?, ?)")
	move := db.Prepare("UPDATE accounts SET balance = balance + ? WHERE name = ?")
	if _, err := db.Batch(ctx, deposit.Bind("ada", 100), deposit.Bind("bob", 0)); err != nil {
		log.Fatal(err)
	}

	// The second update breaks the CHECK, so the first one is undone too.
	_, err = db.Batch(ctx, move.Bind(150, "bob"), move.Bind(-150, "ada"))
	var se *d1.StatementError
	if errors.As(err, &se) {
		fmt.Println("failed at statement", se.Index)
	}

	rows, err := db.Prepare("SELECT name, balance FROM accounts ORDER BY name").Raw(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rows)
	// Output:
	// failed at statement 1
	// [[ada 100] [bob 0]]
}

func ExampleStatement_FirstValue() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	n, err := db.Prepare("SELECT count(*) AS n FROM (SELECT 1 UNION SELECT 2)").FirstValue(ctx, "n")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)

	_, err = db.Prepare("SELECT 1 AS n").FirstValue(ctx, "total")
	fmt.Println(err)
	// Output:
	// 2
	// d1: column not found: "total"
}

func ExampleStatement_RawWithColumns() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	cols, rows, err := db.Prepare("SELECT ?1 AS a, ?1 * 2 AS b, NULL AS c").Bind(21).RawWithColumns(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cols)
	fmt.Println(rows)
	// Output:
	// [a b c]
	// [[21 42 <nil>]]
}

func ExampleAllAs() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `
		CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, author_name TEXT, draft BOOLEAN);
		INSERT INTO posts VALUES (1, 'Hello', 'ada', 0), (2, 'Draft', 'bob', 1);
	`); err != nil {
		log.Fatal(err)
	}

	type Post struct {
		ID         int64
		Title      string
		AuthorName string // from author_name
		Draft      bool
	}
	posts, err := d1.AllAs[Post](ctx, db.Prepare("SELECT * FROM posts ORDER BY id"))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range posts {
		fmt.Printf("%+v\n", p)
	}
	// Output:
	// {ID:1 Title:Hello AuthorName:ada Draft:false}
	// {ID:2 Title:Draft AuthorName:bob Draft:true}
}

func ExampleDatabase_Migrate() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	for range 2 {
		applied, err := db.Migrate(ctx, "testdata/migrations")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("applied:", applied)
	}
	// Output:
	// applied: [0001_create_users.sql 0002_add_email.sql]
	// applied: []
}

func ExampleDatabase_Exec() {
	ctx := context.Background()
	db, err := d1.OpenMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	res, err := db.Exec(ctx, `
		CREATE TABLE tags (name TEXT PRIMARY KEY);
		INSERT INTO tags VALUES ('go'), ('sqlite');
		INSERT INTO tags VALUES ('go');
	`)
	fmt.Println(res, err)
	// Output:
	// <nil> d1: statement 2: constraint failed: UNIQUE constraint failed: tags.name (1555) (in "INSERT INTO tags VALUES ('go')")
}
