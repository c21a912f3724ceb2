// Package d1 is a Go mirror of Cloudflare D1, the SQLite database of
// Workers, on a real SQLite file. Code written against D1's binding reads
// the same in Go, and runs locally or in tests without a Worker:
//
//	db, err := d1.Open("data/app.db")
//	...
//	res, err := db.Prepare("SELECT * FROM users WHERE id = ?").Bind(42).All(ctx)
//	row, err := db.Prepare("SELECT name FROM users WHERE id = ?").Bind(42).First(ctx)
//
// The API follows D1's: [Database.Prepare] returns a [Statement],
// [Statement.Bind] returns a new statement with values bound to its
// parameters, and [Statement.Run], [Statement.All], [Statement.First],
// [Statement.FirstValue] and [Statement.Raw] run it, returning a [Result]
// whose [Meta] tells what it did. [Database.Batch] runs statements as one
// transaction, [Database.Exec] runs a script, and [Database.Migrate]
// applies migration files the way `wrangler d1 migrations apply` does.
// [AllAs] and [FirstAs] read rows into structs.
//
// # Behaviour kept from D1
//
// Values are always bound as parameters (? and ?NNN; D1 has no named
// parameters), never spliced into SQL text, and a statement must be bound
// with exactly as many values as it has parameters. A prepared statement
// is a single SQL statement. Transactions are made with Batch, not with
// BEGIN and COMMIT. Booleans are stored as 1 and 0, and rows come back
// with the values SQLite stored: int64, float64, string, []byte or nil.
// Foreign keys are enforced. Bad input of any kind is an error, never a
// panic; a failed statement is an error wrapping an [*Error] with its SQL
// text.
//
// # Storage
//
// The database is a SQLite file in WAL mode, used through a pool of
// connections of the pure-Go driver modernc.org/sqlite (no cgo). A
// [Database] is safe for concurrent use: readers run in parallel, and
// writers take SQLite's write lock in turn, each waiting for it up to the
// busy timeout. Transactions begin IMMEDIATE, taking the lock up front,
// so two of them cannot deadlock trying to upgrade from reading to
// writing. Data is durable across [Database.Close] and [Open].
//
// # Differences
//
// D1 runs in Cloudflare's network; this package runs in-process, so there
// is no served_by, no read replication and no size or time limit. [Meta]'s
// RowsRead counts the rows returned and RowsWritten the rows changed,
// where D1 counts the rows SQLite scanned and the index entries it
// wrote, numbers the driver does not expose.
package d1
