package d1

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// memoryPath is the path that [Open] takes as an in-memory database.
const memoryPath = ":memory:"

// Database is a D1 database backed by a SQLite file: the Go counterpart of
// the D1Database binding of a Worker. It is safe for concurrent use by
// multiple goroutines.
type Database struct {
	db     *sql.DB
	path   string
	memory bool
	closed atomic.Bool
}

// Open opens the SQLite database file at path, creating it and its parent
// directories if needed, and returns it as a [Database].
//
// Every connection runs in WAL journal mode with synchronous=NORMAL, so
// readers do not block the writer and a commit survives a crash of the
// process; it waits up to the busy timeout (see [WithBusyTimeout]) for
// another writer; and it enforces foreign keys, as D1 does.
//
// The path ":memory:" opens a private in-memory database, as [OpenMemory]
// does.
func Open(path string, opts ...Option) (*Database, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyOption(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("d1: empty database path")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return nil, errors.New("d1: database path contains a NUL byte")
	}
	d := &Database{path: path, memory: path == memoryPath}

	params := []string{
		"_busy_timeout=" + strconv.FormatInt(o.busyTimeout.Milliseconds(), 10),
		"_foreign_keys=" + strconv.FormatBool(o.foreignKeys),
	}
	var dsn string
	if d.memory {
		dsn = memoryPath + "?" + strings.Join(params, "&")
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("d1: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, fmt.Errorf("d1: %w", err)
		}
		params = append(params, "_journal_mode=WAL", "_synchronous=NORMAL")
		dsn = "file:" + uriPath(filepath.ToSlash(abs)) + "?" + strings.Join(params, "&")
	}

	sc, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("d1: open %s: %w", path, err)
	}
	db := sql.OpenDB(connector{sc})
	if d.memory {
		// Each connection to ":memory:" is a database of its own, so
		// there must be exactly one, and it must never be recycled.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	} else {
		db.SetMaxOpenConns(o.maxOpenConns)
		db.SetMaxIdleConns(o.maxOpenConns)
	}
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	d.db = db

	// database/sql connects lazily; connect now, so that a bad path or a
	// file that is not a database fails here rather than in the first
	// query, and so that WAL mode is set before connections race to.
	ctx, cancel := context.WithTimeout(context.Background(), o.busyTimeout+10*time.Second)
	defer cancel()
	if err := d.withConn(ctx, func(c *conn) error {
		_, err := c.query(ctx, "SELECT count(*) FROM sqlite_schema", nil, 0, false)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("d1: open %s: %w", path, err)
	}
	return d, nil
}

// OpenMemory returns a new, empty in-memory [Database], handy in tests. Its
// single connection serialises all work, like D1 itself; the data is gone
// after [Database.Close].
func OpenMemory(opts ...Option) (*Database, error) {
	return Open(memoryPath, opts...)
}

// uriPath escapes the characters that would end or alter the path part
// of a SQLite URI filename.
func uriPath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")
	return r.Replace(p)
}

// Path returns the path the database was opened with.
func (d *Database) Path() string {
	if d == nil {
		return ""
	}
	return d.path
}

// Close closes the database. Operations in progress finish; later ones
// fail with [ErrClosed]. Closing the last connection checkpoints the WAL
// into the database file.
func (d *Database) Close() error {
	if d == nil || !d.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("d1: close: %w", err)
	}
	return nil
}

// Prepare returns a [Statement] for query, which must hold exactly one SQL
// statement with ? or ?NNN parameters. Like D1, Prepare itself never
// fails: a query that cannot run reports its error when it is run.
func (d *Database) Prepare(query string) *Statement {
	s := &Statement{db: d, query: query}
	switch sts := splitSQL(query); len(sts) {
	case 0:
		s.prepErr = ErrNoStatement
	case 1:
		s.st = sts[0]
		s.prepErr = s.st.check()
	default:
		s.prepErr = newError(query, fmt.Errorf("%w: found %d", ErrMultipleStatements, len(sts)))
	}
	return s
}

// Batch runs stmts in order in one transaction, as D1's batch does: either
// all of them take effect or, if one fails, none does. The results are in
// the order of stmts. The error of a failed batch is a *[StatementError]
// naming the failing statement's index.
func (d *Database) Batch(ctx context.Context, stmts ...*Statement) ([]*Result, error) {
	for i, s := range stmts {
		if err := s.failure(); err != nil {
			return nil, &StatementError{Index: i, Err: err}
		}
		if s.db != d {
			return nil, &StatementError{Index: i, Err: ErrForeignStatement}
		}
	}
	results := make([]*Result, len(stmts))
	if len(stmts) == 0 {
		return results, nil
	}
	err := d.withConn(ctx, func(c *conn) error {
		if err := c.begin(ctx); err != nil {
			return newError("BEGIN IMMEDIATE", err)
		}
		for i, s := range stmts {
			out, err := c.run(ctx, &s.st, s.args, 0, true)
			if err != nil {
				return c.rollback(&StatementError{Index: i, Err: err})
			}
			results[i] = out.result()
		}
		return c.commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// ExecResult is the result of [Database.Exec].
type ExecResult struct {
	// Count is the number of statements run.
	Count int
	// Duration is the time SQLite spent running them.
	Duration time.Duration
}

// Exec runs the statements of script one after another, without
// parameters, as D1's exec does: schema set-up, seeding, maintenance. It is
// not a transaction: when a statement fails, the ones before it stay
// applied and the error is a *[StatementError] with its index. Use
// [Database.Batch] for all-or-nothing.
func (d *Database) Exec(ctx context.Context, script string) (*ExecResult, error) {
	sts := splitSQL(script)
	if len(sts) == 0 {
		return nil, ErrNoStatement
	}
	res := &ExecResult{}
	err := d.withConn(ctx, func(c *conn) error {
		for i := range sts {
			out, err := c.run(ctx, &sts[i], nil, 0, false)
			if err != nil {
				return &StatementError{Index: i, Err: err}
			}
			res.Count++
			res.Duration += out.meta.Duration
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// withConn runs f on a connection of the pool.
func (d *Database) withConn(ctx context.Context, f func(*conn) error) error {
	if d == nil || d.db == nil || d.closed.Load() {
		return ErrClosed
	}
	if ctx == nil {
		return ErrNilContext
	}
	sqlConn, err := d.db.Conn(ctx)
	if err != nil {
		if d.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("d1: %w", err)
	}
	defer sqlConn.Close()
	var ferr error
	err = sqlConn.Raw(func(dc any) error {
		pc, ok := dc.(*poolConn)
		if !ok {
			return fmt.Errorf("d1: unexpected driver connection %T", dc)
		}
		ferr = f(&conn{pc: pc, memory: d.memory})
		var bad *discardConn
		if errors.As(ferr, &bad) {
			return driver.ErrBadConn // database/sql closes the connection
		}
		return ferr
	})
	if bad, ok := ferr.(*discardConn); ok {
		return bad.err
	}
	if ferr != nil {
		return ferr
	}
	return err
}
