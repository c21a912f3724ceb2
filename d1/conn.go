package d1

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// This file runs statements on one pooled connection. It works on the
// driver connection itself, below database/sql, so that a statement and the
// bookkeeping queries around it share the connection without re-entering
// the pool, so that keepText can reach the driver's rows, and so that each
// connection can keep its prepared statements: parsing SQL costs more
// than running a typical D1 query.

// sqliteConn is what this package needs of a driver connection. Wrapping
// the driver's connection in poolConn hides its other methods from
// database/sql, which is fine: the pool is only used through Conn.Raw.
type sqliteConn interface {
	driver.Conn
	driver.QueryerContext
	driver.ConnPrepareContext
	driver.SessionResetter // the driver discards interrupted connections
	driver.Validator
}

// connector makes the pool's connections poolConns.
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("d1: driver connection %T lacks needed methods", dc)
	}
	return &poolConn{sqliteConn: sc, cache: map[string]*list.Element{}, lru: list.New()}, nil
}

// stmtCacheSize bounds the statements kept prepared per connection.
const stmtCacheSize = 64

// poolConn is a driver connection with its prepared statements. Like the
// connection, it is used by one goroutine at a time.
type poolConn struct {
	sqliteConn
	cache map[string]*list.Element // SQL text -> element of lru
	lru   *list.List               // of *cachedStmt, most recent first
}

type cachedStmt struct {
	query string
	stmt  queryStmt
}

type queryStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}

// prepared returns the statement for query, preparing it on first use.
func (p *poolConn) prepared(ctx context.Context, query string) (queryStmt, error) {
	if e, ok := p.cache[query]; ok {
		p.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).stmt, nil
	}
	ds, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	sq, ok := ds.(queryStmt)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("d1: driver statement %T cannot run queries", ds)
	}
	p.cache[query] = p.lru.PushFront(&cachedStmt{query: query, stmt: sq})
	if p.lru.Len() > stmtCacheSize {
		old := p.lru.Remove(p.lru.Back()).(*cachedStmt)
		delete(p.cache, old.query)
		old.stmt.Close()
	}
	return sq, nil
}

// Close finalizes the statements before the connection, which SQLite
// would otherwise keep open for them.
func (p *poolConn) Close() error {
	for e := p.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).stmt.Close()
	}
	p.cache, p.lru = nil, list.New()
	return p.sqliteConn.Close()
}

// conn is a pooled connection borrowed for one operation.
type conn struct {
	pc     *poolConn
	memory bool // the connection is the whole database: never discard it
}

// discardConn asks withConn to close the connection instead of returning it
// to the pool, because its state is unknown (a failed ROLLBACK).
type discardConn struct{ err error }

func (e *discardConn) Error() string { return e.err.Error() }
func (e *discardConn) Unwrap() error { return e.err }

// counters are the per-connection values D1's meta is computed from.
type counters struct {
	totalChanges int64
	lastRowID    int64
	size         int64
}

// The counters are read with SQL. total_changes and last_insert_rowid
// belong to the connection, so reading them before and after a statement
// on the same connection isolates its effect; they need no read
// transaction, the size does.
const (
	changesSQL  = "SELECT total_changes(), last_insert_rowid()"
	countersSQL = "SELECT total_changes(), last_insert_rowid(), page_count * page_size FROM pragma_page_count(), pragma_page_size()"
)

// counters reads the counters, the size only if withSize.
func (c *conn) counters(ctx context.Context, withSize bool) (counters, error) {
	query := changesSQL
	if withSize {
		query = countersSQL
	}
	stmt, err := c.pc.prepared(ctx, query)
	if err != nil {
		return counters{}, err
	}
	rows, err := stmt.QueryContext(ctx, nil)
	if err != nil {
		return counters{}, err
	}
	dest := make([]driver.Value, len(rows.Columns()))
	err = rows.Next(dest)
	// Closed exactly once: the driver's Close is not idempotent.
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return counters{}, err
	}
	var out counters
	out.totalChanges, _ = dest[0].(int64)
	out.lastRowID, _ = dest[1].(int64)
	if withSize {
		out.size, _ = dest[2].(int64)
	}
	return out, nil
}

// changesRows reports whether a statement starting with keyword can only
// change the database by changing rows, which total_changes sees. For the
// others (CREATE, DROP, ALTER, VACUUM, PRAGMA ...) only the size tells.
func changesRows(keyword string) bool {
	switch keyword {
	case "SELECT", "VALUES", "WITH", "INSERT", "REPLACE", "UPDATE", "DELETE", "EXPLAIN":
		return true
	}
	return false
}

// output is what a statement produced.
type output struct {
	columns []string
	rows    [][]any
	meta    Meta
}

// run executes st with args and reads up to limit rows (all if limit <= 0).
// cache keeps the statement prepared for the next run on this connection.
// Errors carry the statement text.
func (c *conn) run(ctx context.Context, st *sqlStatement, args []driver.NamedValue, limit int, cache bool) (*output, error) {
	if err := st.check(); err != nil {
		return nil, err
	}
	if err := st.checkArgs(len(args)); err != nil {
		return nil, err
	}
	sizeBefore := !changesRows(st.keyword)
	before, err := c.counters(ctx, sizeBefore)
	if err != nil {
		return nil, newError(st.text, err)
	}
	start := time.Now()
	out, err := c.query(ctx, st.text, args, limit, cache)
	if err != nil {
		return nil, newError(st.text, err)
	}
	out.meta.Duration = time.Since(start)
	// The statement is done: a cancellation arriving now must not turn
	// its success into an error.
	after, err := c.counters(context.WithoutCancel(ctx), true)
	if err != nil {
		return nil, newError(st.text, err)
	}
	m := &out.meta
	m.Changes = after.totalChanges - before.totalChanges
	m.LastRowID = after.lastRowID
	m.SizeAfter = after.size
	m.ChangedDB = m.Changes != 0 || after.lastRowID != before.lastRowID || sizeBefore && after.size != before.size
	m.RowsRead = int64(len(out.rows))
	m.RowsWritten = m.Changes
	return out, nil
}

func (c *conn) query(ctx context.Context, query string, args []driver.NamedValue, limit int, cache bool) (_ *output, err error) {
	var rows driver.Rows
	if cache {
		var stmt queryStmt
		if stmt, err = c.pc.prepared(ctx, query); err == nil {
			rows, err = stmt.QueryContext(ctx, args)
		}
	} else {
		rows, err = c.pc.QueryContext(ctx, query, args)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	keepText(rows)
	out := &output{columns: append([]string(nil), rows.Columns()...), rows: [][]any{}}
	dest := make([]driver.Value, len(out.columns))
	done := ctx.Done()
	for limit <= 0 || len(out.rows) < limit {
		// The driver interrupts a statement when ctx ends only until its
		// first row; after that, ending is up to the reader of the rows.
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
		if err := rows.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		row := make([]any, len(dest))
		for i, v := range dest {
			row[i] = normalize(v)
		}
		out.rows = append(out.rows, row)
	}
	return out, nil
}

// exec runs SQL that is ours, such as BEGIN IMMEDIATE, discarding rows.
func (c *conn) exec(ctx context.Context, query string) error {
	_, err := c.query(ctx, query, nil, 0, true)
	return err
}

// begin starts a write transaction. IMMEDIATE takes the write lock up
// front, waiting for it under the busy timeout; a deferred transaction
// that reads first would fail with SQLITE_BUSY, without waiting, when it
// later tries to write while another connection holds the lock.
func (c *conn) begin(ctx context.Context) error {
	return c.exec(ctx, "BEGIN IMMEDIATE")
}

// commit commits, and rolls back if the commit fails.
func (c *conn) commit(ctx context.Context) error {
	if err := c.exec(ctx, "COMMIT"); err != nil {
		return c.rollback(newError("COMMIT", err))
	}
	return nil
}

// rollback rolls back after cause and returns cause. SQLite may already
// have rolled back (an interrupted write does), which is fine; any other
// failure leaves the transaction state unknown, so the connection is
// discarded rather than handed to the next caller inside a transaction.
func (c *conn) rollback(cause error) error {
	err := c.exec(context.Background(), "ROLLBACK")
	if err == nil || strings.Contains(err.Error(), "no transaction is active") || c.memory {
		return cause
	}
	if cause == nil {
		cause = newError("ROLLBACK", err)
	}
	return &discardConn{err: cause}
}
