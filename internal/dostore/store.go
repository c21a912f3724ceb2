// Package dostore keeps the storage of Durable Objects: one SQLite file per
// object, holding its key-value pairs, its alarm and the tables the object
// makes itself, and one index per class of the objects that have an alarm
// set. It knows nothing of the runtime; package workers wraps it.
package dostore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// Options configure how a file is opened.
type Options struct {
	// BusyTimeout is how long a statement waits for another process that
	// holds the file's write lock; 0 means 5 seconds.
	BusyTimeout time.Duration
	// SyncFull makes every commit wait for the disk (synchronous=FULL), so
	// that it survives a power loss too; by default (NORMAL, in WAL mode) a
	// commit survives a crash of the process but not of the machine.
	SyncFull bool
}

// open opens the SQLite file at path with a single connection: an object
// runs one operation at a time, and one connection means one transaction
// state, shared by the key-value calls and by the object's own SQL.
func open(path string, o Options) (*sql.DB, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, errors.New("path contains a NUL byte")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	sync := "NORMAL"
	if o.SyncFull {
		sync = "FULL"
	}
	dsn := "file:" + uriPath(filepath.ToSlash(abs)) + "?" + strings.Join([]string{
		"_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10),
		"_journal_mode=WAL",
		"_synchronous=" + sync,
		"_foreign_keys=true",
	}, "&")
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(p)
}

// Store is the storage of one object. Its methods are safe for concurrent
// use; they run one at a time on the file's single connection.
type Store struct {
	db   *sql.DB
	path string

	get, put, del, alarmGet, alarmSet, alarmDel *sql.Stmt

	mu    sync.Mutex // guards depth
	depth int        // open transactions: 0 none, 1 BEGIN, more savepoints
}

const schema = `
CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB NOT NULL, type TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _cf_METADATA (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`

// Open opens (or creates) the object file at path.
func Open(path string, o Options) (*Store, error) {
	db, err := open(path, o)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.get, `SELECT value, type FROM _cf_KV WHERE key = ?`},
		{&s.put, `INSERT INTO _cf_KV (key, value, type) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, type = excluded.type`},
		{&s.del, `DELETE FROM _cf_KV WHERE key = ?`},
		{&s.alarmGet, `SELECT value FROM _cf_METADATA WHERE key = 'alarm'`},
		{&s.alarmSet, `INSERT INTO _cf_METADATA (key, value) VALUES ('alarm', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`},
		{&s.alarmDel, `DELETE FROM _cf_METADATA WHERE key = 'alarm'`},
	} {
		st, err := s.db.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// DB returns the object's database, for its own tables.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the file. A transaction still open is rolled back.
func (s *Store) Close() error { return s.db.Close() }

// bg keeps ctx's values but not its cancellation: a statement interrupted
// halfway makes database/sql drop the connection, and with it an open
// transaction, so operations check ctx before they start instead.
func bg(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// Get returns the value stored under key and its type hint.
func (s *Store) Get(ctx context.Context, key string) (value []byte, hint string, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	err = s.get.QueryRowContext(bg(ctx), key).Scan(&value, &hint)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	return value, hint, err == nil, err
}

// Put stores value under key.
func (s *Store) Put(ctx context.Context, key string, value []byte, hint string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.put.ExecContext(bg(ctx), key, value, hint)
	return err
}

// Delete removes key and reports whether it was there.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	res, err := s.del.ExecContext(bg(ctx), key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// A Row is one key-value pair.
type Row struct {
	Key   string
	Value []byte
	Hint  string
}

// Range selects keys for List: those at or after Start, before End (when
// set), beginning with Prefix, at most Limit of them (when positive), in
// descending order when Reverse.
type Range struct {
	Prefix, Start, End string
	Limit              int
	Reverse            bool
}

// List returns the pairs in r, in key order (byte order of the keys).
func (s *Store) List(ctx context.Context, r Range) ([]Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if r.Start != "" {
		where, args = append(where, "key >= ?"), append(args, r.Start)
	}
	if r.End != "" {
		where, args = append(where, "key < ?"), append(args, r.End)
	}
	if r.Prefix != "" {
		where, args = append(where, "key >= ?"), append(args, r.Prefix)
		if end, ok := prefixEnd(r.Prefix); ok {
			where, args = append(where, "key < ?"), append(args, end)
		}
	}
	q := "SELECT key, value, type FROM _cf_KV"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY key"
	if r.Reverse {
		q += " DESC"
	}
	if r.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(r.Limit)
	}
	rows, err := s.db.QueryContext(bg(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var row Row
		if err := rows.Scan(&row.Key, &row.Value, &row.Hint); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// prefixEnd returns the least string greater than every string that begins
// with p, or false when there is none (p is all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// DeleteAll removes every pair and every table, view and trigger the
// object made, as Workers' deleteAll does for a SQLite-backed object. The
// alarm stays.
func (s *Store) DeleteAll(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Transaction(ctx, func() error {
		c := bg(ctx)
		rows, err := s.db.QueryContext(c, `SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_cf\_%' ESCAPE '\'`)
		if err != nil {
			return err
		}
		var drops []string
		for rows.Next() {
			var typ, name string
			if err := rows.Scan(&typ, &name); err != nil {
				rows.Close()
				return err
			}
			drops = append(drops, "DROP "+strings.ToUpper(typ)+" IF EXISTS "+quoteIdent(name))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range drops {
			if _, err := s.db.ExecContext(c, d); err != nil {
				return err
			}
		}
		_, err = s.db.ExecContext(c, `DELETE FROM _cf_KV`)
		return err
	})
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Transaction runs fn in a transaction: every operation on the store while
// fn runs is part of it, committed when fn returns nil and rolled back when
// it returns an error or panics (the panic goes on). Nested calls are
// savepoints.
func (s *Store) Transaction(ctx context.Context, fn func() error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := bg(ctx)
	s.mu.Lock()
	s.depth++
	depth := s.depth
	s.mu.Unlock()
	begin, commit, rollback := "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
	if depth > 1 {
		sp := "sp" + strconv.Itoa(depth)
		begin, commit, rollback = "SAVEPOINT "+sp, "RELEASE "+sp, "ROLLBACK TO "+sp+"; RELEASE "+sp
	}
	end := func() {
		s.mu.Lock()
		s.depth--
		s.mu.Unlock()
	}
	if _, err := s.db.ExecContext(c, begin); err != nil {
		end()
		return err
	}
	done := false
	defer func() {
		if done {
			return
		}
		v := recover()
		_, rerr := s.db.ExecContext(c, rollback)
		end()
		if v != nil {
			panic(v)
		}
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
	}()
	if err = fn(); err != nil {
		return err
	}
	if _, err = s.db.ExecContext(c, commit); err != nil {
		return err
	}
	done = true
	end()
	return nil
}

// Alarm returns the time the alarm is set for, in Unix nanoseconds.
func (s *Store) Alarm(ctx context.Context) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	var at int64
	err := s.alarmGet.QueryRowContext(bg(ctx)).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return at, err == nil, err
}

// SetAlarm sets the alarm for at, in Unix nanoseconds.
func (s *Store) SetAlarm(ctx context.Context, at int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.alarmSet.ExecContext(bg(ctx), at)
	return err
}

// DeleteAlarm clears the alarm.
func (s *Store) DeleteAlarm(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.alarmDel.ExecContext(bg(ctx))
	return err
}
