package d1

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// Statement is a prepared statement, D1's D1PreparedStatement: SQL text and
// the values bound to its parameters. It is immutable, so one Statement
// may be run any number of times, from any number of goroutines, and
// [Statement.Bind] returns a new one.
//
// Values are only ever bound as parameters, never written into the SQL
// text, so they cannot change what the statement does.
//
// The methods that run a statement take a context. Ending it interrupts a
// statement that has not produced its first row yet, and stops the reading
// of rows between two rows; a statement already running in a [Database.Batch]
// is rolled back with the rest.
type Statement struct {
	db      *Database
	query   string
	st      sqlStatement
	args    []driver.NamedValue
	prepErr error // from Prepare: reported however the statement is bound
	bindErr error // from the last Bind
}

// Bind returns a new statement with args bound to the parameters in order:
// args[0] to ?1 (the first ?), args[1] to ?2, and so on. Bind replaces any
// values bound before; the receiver is not changed.
//
// The supported types are those D1 accepts, in Go form: nil, bool (stored
// as 1 or 0), every integer type (a uint64 above math.MaxInt64 is an
// error), float32 and float64, string, []byte (nil is NULL), time.Time
// (stored as RFC 3339 text in UTC), a pointer to one of these (nil is
// NULL), a type defined over one of these kinds, and a driver.Valuer
// returning one of these. Any other type makes the statement fail when it
// is run, with an error wrapping [ErrUnsupportedType] that names the
// argument's index and type.
func (s *Statement) Bind(args ...any) *Statement {
	if s == nil {
		return &Statement{prepErr: ErrNilStatement}
	}
	n := *s
	var err error
	n.args, err = bindArgs(args)
	n.bindErr = nil
	if err != nil {
		n.args, n.bindErr = nil, newError(s.st.text, err)
	}
	return &n
}

// Run runs the statement and returns its [Result]. Today's D1 makes run
// the same as all, so Results holds any rows the statement returns (a
// SELECT, or RETURNING); for other statements it is empty and Meta is
// what matters.
func (s *Statement) Run(ctx context.Context) (*Result, error) {
	return s.All(ctx)
}

// All runs the statement and returns all its rows in Results.
func (s *Statement) All(ctx context.Context) (*Result, error) {
	out, err := s.exec(ctx, 0)
	if err != nil {
		return nil, err
	}
	return out.result(), nil
}

// First runs the statement and returns its first row, or nil and no error
// when there is none. Further rows are not read.
func (s *Statement) First(ctx context.Context) (map[string]any, error) {
	out, err := s.exec(ctx, 1)
	if err != nil || len(out.rows) == 0 {
		return nil, err
	}
	return rowMap(out.columns, out.rows[0]), nil
}

// FirstValue runs the statement and returns the value of column in its
// first row, like D1's first(column). It returns nil and no error when
// there is no row, and an error wrapping [ErrColumnNotFound] when there is
// one without that column.
func (s *Statement) FirstValue(ctx context.Context, column string) (any, error) {
	row, err := s.First(ctx)
	if err != nil || row == nil {
		return nil, err
	}
	v, ok := row[column]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrColumnNotFound, column)
	}
	return v, nil
}

// Raw runs the statement and returns its rows as slices of values in
// column order, like D1's raw(). It is never nil.
func (s *Statement) Raw(ctx context.Context) ([][]any, error) {
	_, rows, err := s.RawWithColumns(ctx)
	return rows, err
}

// RawWithColumns is like [Statement.Raw] and also returns the column names,
// like D1's raw({columnNames: true}), whose first array holds them. The
// names are returned even when there are no rows.
func (s *Statement) RawWithColumns(ctx context.Context) (columns []string, rows [][]any, err error) {
	out, err := s.exec(ctx, 0)
	if err != nil {
		return nil, nil, err
	}
	return out.columns, out.rows, nil
}

// exec runs the statement on a pooled connection, reading up to limit
// rows (all when limit <= 0).
func (s *Statement) exec(ctx context.Context, limit int) (*output, error) {
	if err := s.failure(); err != nil {
		return nil, err
	}
	var out *output
	err := s.db.withConn(ctx, func(c *conn) error {
		var err error
		out, err = c.run(ctx, &s.st, s.args, limit, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// failure returns the error that keeps the statement from running at all.
func (s *Statement) failure() error {
	switch {
	case s == nil:
		return ErrNilStatement
	case s.prepErr != nil:
		return s.prepErr
	case s.bindErr != nil:
		return s.bindErr
	case s.st.text == "": // a zero Statement, not made by Prepare
		return ErrNoStatement
	}
	return nil
}
