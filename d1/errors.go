package d1

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Test for them with [errors.Is]; the errors returned by
// this package wrap them with the detail that explains the failure.
var (
	// ErrClosed is returned by every operation on a [Database] after
	// [Database.Close], and by operations on a nil *Database.
	ErrClosed = errors.New("d1: database is closed")

	// ErrNilStatement is returned for a nil *Statement, alone or in a
	// [Database.Batch].
	ErrNilStatement = errors.New("d1: nil statement")

	// ErrNilContext is returned when a nil context.Context is passed.
	ErrNilContext = errors.New("d1: nil context")

	// ErrNoStatement is returned when the SQL text holds nothing to run:
	// only white space, comments or semicolons. D1 says "No SQL statements
	// detected."
	ErrNoStatement = errors.New("d1: no SQL statement")

	// ErrMultipleStatements is returned by a [Statement] whose SQL text
	// holds more than one statement. Like D1, a prepared statement must be a
	// single statement; run scripts with [Database.Exec] or
	// [Database.Batch].
	ErrMultipleStatements = errors.New("d1: a prepared statement must contain only one SQL statement")

	// ErrTransactionStatement is returned for BEGIN, COMMIT, END, ROLLBACK,
	// SAVEPOINT and RELEASE. D1 rejects them too: a transaction left open
	// on a pooled connection would capture every later statement, so
	// transactions are made with [Database.Batch] (and per file by
	// [Database.Migrate]).
	ErrTransactionStatement = errors.New("d1: transaction statements are not supported; use Batch")

	// ErrNamedParameter is returned for :name, @name and $name parameters.
	// D1 binds by position only: use ? or ?NNN.
	ErrNamedParameter = errors.New("d1: named parameters are not supported; use ? or ?NNN")

	// ErrParameterCount is returned when the number of bound values differs
	// from the number of parameters of the statement (D1: "Wrong number of
	// parameter bindings for SQL query.").
	ErrParameterCount = errors.New("d1: wrong number of parameter bindings")

	// ErrUnsupportedType is returned when a value passed to
	// [Statement.Bind] has a type that cannot be stored in SQLite.
	ErrUnsupportedType = errors.New("d1: unsupported bind type")

	// ErrOutOfRange is returned when a value passed to [Statement.Bind]
	// does not fit in SQLite's 64-bit signed integer, such as a uint64
	// above math.MaxInt64.
	ErrOutOfRange = errors.New("d1: bind value out of range")

	// ErrColumnNotFound is returned by [Statement.FirstValue] when the first
	// row has no column of the requested name (D1_COLUMN_NOTFOUND).
	ErrColumnNotFound = errors.New("d1: column not found")

	// ErrForeignStatement is returned by [Database.Batch] for a statement
	// prepared by another [Database].
	ErrForeignStatement = errors.New("d1: statement belongs to another database")

	// ErrScanType is returned by [AllAs] and [FirstAs] when a column value
	// cannot be stored in the struct field it maps to.
	ErrScanType = errors.New("d1: column value does not fit field")

	// ErrNotStruct is returned by [AllAs] and [FirstAs] when their type
	// parameter is not a struct type.
	ErrNotStruct = errors.New("d1: scan target is not a struct")
)

// maxQueryInError bounds the SQL text kept in an [Error], so a large
// INSERT does not flood logs.
const maxQueryInError = 120

// Error is a failed SQL statement. Err is the cause, usually a
// *sqlite.Error from modernc.org/sqlite (which has the SQLite result code) or
// a context error; Query is the statement text, shortened.
type Error struct {
	Query string
	Err   error
}

func (e *Error) Error() string {
	return "d1: " + strings.TrimPrefix(e.Err.Error(), "d1: ") + " (in " + strconv.Quote(e.Query) + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// newError wraps err with the statement text, unless it already carries it.
func newError(query string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Query: shorten(query), Err: err}
}

// shorten collapses white space runs and cuts query to maxQueryInError
// bytes, on a rune boundary.
func shorten(query string) string {
	q := strings.Join(strings.Fields(query), " ")
	if len(q) <= maxQueryInError {
		return q
	}
	cut := maxQueryInError
	for cut > 0 && !isRuneStart(q[cut]) {
		cut--
	}
	return q[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// StatementError reports which statement of a [Database.Batch] or of a
// [Database.Exec] script failed. Index is zero-based. In a batch nothing
// was applied; in an Exec script the statements before Index were.
type StatementError struct {
	Index int
	Err   error
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("d1: statement %d: %s", e.Index, strings.TrimPrefix(e.Err.Error(), "d1: "))
}

func (e *StatementError) Unwrap() error { return e.Err }

// MigrationError reports the migration file that failed in
// [Database.Migrate]. The database is as it was before that file.
type MigrationError struct {
	Name string
	Err  error
}

func (e *MigrationError) Error() string {
	return "d1: migration " + e.Name + ": " + strings.TrimPrefix(e.Err.Error(), "d1: ")
}

func (e *MigrationError) Unwrap() error { return e.Err }
