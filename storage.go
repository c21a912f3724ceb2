package workers

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/seed-29c11ff2/workers/internal/dostore"
)

// Storage is a Durable Object's private, transactional storage, Workers'
// ctx.storage on the SQLite backend: key-value pairs, the object's own SQL
// tables ([Storage.SQL]) and its alarm, in one SQLite file per object
// (<state dir>/do/<worker>-<class>/<id>.sqlite, see [WithStateDir]). The
// file is opened on first use.
//
// Values are stored in CBOR, so what is read back is a copy of what was
// put: [StorageGet] decodes into the type asked for, and a value read into
// an interface (any, or [Entry.Value]) has the type it was put with when
// that type is predeclared or was put by this process, else CBOR's generic
// form (map[string]any, []any, int64). Struct fields are stored by name
// (cbor or json tags apply). What would not come back whole is refused
// with [ErrInvalidArgument], as a call refuses to copy it: references
// (funcs, channels, Bindings, stubs, RpcTargets, contexts) and structs whose
// unexported fields hold data, unless they marshal themselves (time.Time).
//
// Every operation is committed when it returns (each its own transaction,
// unless in [Storage.Transaction]), so an acknowledged write survives a
// crash of the process. Writes are not coalesced behind the caller's back:
// in Go a Put that returned nil must be on disk, as the object may tell
// others about it at once; group writes with Transaction, which commits
// them together.
//
// One object's operations run one at a time on one SQLite connection. A
// *sql.Rows of [Storage.SQL] left open holds that connection: close it
// before the next storage call.
type Storage struct {
	a      *actor
	mu     sync.Mutex
	st     *dostore.Store
	err    error
	closed bool
}

// MaxKeyBytes and MaxValueBytes bound what Put accepts: 2 KiB keys and 2 MiB
// values (encoded), as Workers' SQLite-backed storage does.
const (
	MaxKeyBytes   = 2 << 10
	MaxValueBytes = 2 << 20
)

// ListOptions select what [Storage.List] returns: keys at or after Start
// and before End (when set) that begin with Prefix, in ascending order (of
// their bytes) or descending when Reverse, at most Limit of them when
// Limit > 0.
type ListOptions struct {
	Prefix  string
	Start   string // inclusive
	End     string // exclusive
	Limit   int
	Reverse bool
}

// Entry is one key-value pair that [Storage.List] returned.
type Entry struct {
	Key   string
	Value any
}

func (s *Storage) where() string {
	if s == nil || s.a == nil {
		return "durable object storage"
	}
	return s.a.cls.display + " id " + s.a.id.String()
}

// store opens the object's file on first use.
func (s *Storage) store() (*dostore.Store, error) {
	if s == nil || s.a == nil {
		return nil, errors.New("workers: storage of no Durable Object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrDisposed, "%s: storage closed: the object was evicted, reset or its registry closed", s.where())
	}
	if s.st != nil {
		return s.st, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	path := filepath.Join(s.a.cls.dir, s.a.id.String()+".sqlite")
	st, err := dostore.Open(path, s.a.cls.storeOptions())
	if err != nil {
		s.err = fmt.Errorf("workers: %s: %w", s.where(), err)
		return nil, s.err
	}
	s.st = st
	return st, nil
}

func (s *Storage) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.st == nil {
		return nil
	}
	st := s.st
	s.st = nil
	return st.Close()
}

func (s *Storage) fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return err
	}
	if key != "" {
		op += fmt.Sprintf(" %q", key)
	}
	return fmt.Errorf("workers: %s: %s: %w", s.where(), op, err)
}

func checkCtx(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// Put stores a copy of value under key, replacing what was there.
func (s *Storage) Put(ctx context.Context, key string, value any) error {
	ctx = checkCtx(ctx)
	if len(key) > MaxKeyBytes {
		return newError(ErrInvalidArgument, "%s: Put: key of %d bytes is longer than %d", s.where(), len(key), MaxKeyBytes)
	}
	if why := unstorable(reflect.TypeOf(value)); why != "" {
		return newError(ErrInvalidArgument, "%s: Put %q: value of type %T cannot be stored: %s", s.where(), key, value, why)
	}
	data, hint, err := dostore.Encode(value)
	if err != nil {
		return &callError{kind: ErrInvalidArgument, cause: err, msg: fmt.Sprintf("workers: %s: Put %q: value of type %T cannot be stored: %v", s.where(), key, value, err)}
	}
	if len(data) > MaxValueBytes {
		return newError(ErrInvalidArgument, "%s: Put %q: value of %d bytes is larger than %d", s.where(), key, len(data), MaxValueBytes)
	}
	st, err := s.store()
	if err != nil {
		return err
	}
	if err := st.Put(ctx, key, data, hint); err != nil {
		return s.fail("Put", key, err)
	}
	return nil
}

var (
	unstorables = sync.Map{} // reflect.Type -> string
	bindingType = reflect.TypeFor[*Binding]()
	contextType = reflect.TypeFor[context.Context]()
)

// unstorable says why values of type t cannot be stored, or "": storage
// keeps data, as a call's copy does, and neither references (funcs,
// channels, Bindings, stubs, RpcTargets, contexts), which would come back
// as empty shells, nor structs whose unexported fields hold data, which
// would come back without it.
func unstorable(t reflect.Type) string {
	if t == nil {
		return ""
	}
	if why, ok := unstorables.Load(t); ok {
		return why.(string)
	}
	why := unstorableIn(t, map[reflect.Type]bool{})
	if why == "" {
		if _, ok := copier.NeedsCopy(t); !ok {
			_, err := copier.CopyValue(reflect.New(t).Elem())
			why = "it cannot be copied"
			if err != nil {
				why = err.Error()
			}
		}
	}
	unstorables.Store(t, why)
	return why
}

func unstorableIn(t reflect.Type, seen map[reflect.Type]bool) string {
	if seen[t] {
		return ""
	}
	seen[t] = true
	switch {
	case t == bindingType || t == stubType || isTarget(t):
		return fmt.Sprintf("a %s crosses calls by reference, and a reference cannot be stored; store the data it stands for", t)
	case t.Kind() != reflect.Interface && t.Implements(contextType):
		return fmt.Sprintf("a %s is a context.Context, which cannot be stored", t)
	}
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return fmt.Sprintf("a %s cannot be stored", t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if why := unstorableIn(t.Elem(), seen); why != "" {
			return why
		}
	case reflect.Map:
		if why := unstorableIn(t.Key(), seen); why != "" {
			return why
		}
		return unstorableIn(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				if why := unstorableIn(f.Type, seen); why != "" {
					return fmt.Sprintf("field %s: %s", f.Name, why)
				}
			}
		}
	}
	return ""
}

// StorageGet returns the value stored under key as a T, and whether there
// is one. A stored value that does not decode into T is an error that
// names the key and T.
//
//	n, _, err := workers.StorageGet[int](ctx, c.State.Storage(), "count")
func StorageGet[T any](ctx context.Context, s *Storage, key string) (T, bool, error) {
	var out T
	ctx = checkCtx(ctx)
	st, err := s.store()
	if err != nil {
		return out, false, err
	}
	data, hint, ok, err := st.Get(ctx, key)
	if err != nil || !ok {
		return out, false, s.fail("Get", key, err)
	}
	v, err := dostore.Decode(data, hint, reflect.TypeFor[T]())
	if err != nil {
		return out, false, s.fail("Get", key, fmt.Errorf("stored value does not decode into %s: %w", reflect.TypeFor[T](), err))
	}
	reflect.ValueOf(&out).Elem().Set(v)
	return out, true, nil
}

// Delete removes key and reports whether it was there.
func (s *Storage) Delete(ctx context.Context, key string) (bool, error) {
	ctx = checkCtx(ctx)
	st, err := s.store()
	if err != nil {
		return false, err
	}
	ok, err := st.Delete(ctx, key)
	if err != nil {
		return false, s.fail("Delete", key, err)
	}
	return ok, nil
}

// DeleteAll removes every key and every table, view and trigger the object
// made with SQL, as Workers' deleteAll does for a SQLite-backed object. The
// alarm stays: delete it with DeleteAlarm.
func (s *Storage) DeleteAll(ctx context.Context) error {
	ctx = checkCtx(ctx)
	st, err := s.store()
	if err != nil {
		return err
	}
	if err := st.DeleteAll(ctx); err != nil {
		return s.fail("DeleteAll", "", err)
	}
	return nil
}

// List returns the pairs opts selects, in key order.
func (s *Storage) List(ctx context.Context, opts ListOptions) ([]Entry, error) {
	ctx = checkCtx(ctx)
	if opts.Limit < 0 {
		return nil, newError(ErrInvalidArgument, "%s: List: negative Limit %d", s.where(), opts.Limit)
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	rows, err := st.List(ctx, dostore.Range{Prefix: opts.Prefix, Start: opts.Start, End: opts.End, Limit: opts.Limit, Reverse: opts.Reverse})
	if err != nil {
		return nil, s.fail("List", "", err)
	}
	out := make([]Entry, len(rows))
	anyType := reflect.TypeFor[any]()
	for i, r := range rows {
		v, err := dostore.Decode(r.Value, r.Hint, anyType)
		if err != nil {
			return nil, s.fail("List", r.Key, err)
		}
		out[i] = Entry{Key: r.Key, Value: v.Interface()}
	}
	return out, nil
}

// Transaction runs fn in a transaction: the object's storage operations
// while fn runs (through tx, through s, and SQL through [Storage.SQL]) are
// committed together when fn returns nil, and all rolled back when it
// returns an error or panics; the error is returned, the panic goes on.
// tx is s: a Transaction inside fn nests as a savepoint, rolled back on its
// own. Do not run BEGIN, COMMIT or ROLLBACK through SQL.
func (s *Storage) Transaction(ctx context.Context, fn func(tx *Storage) error) (err error) {
	ctx = checkCtx(ctx)
	if fn == nil {
		return newError(ErrInvalidArgument, "%s: Transaction: nil fn", s.where())
	}
	st, err := s.store()
	if err != nil {
		return err
	}
	committed := false
	if s.a.cls.alarm != nil {
		// A rolled-back SetAlarm or DeleteAlarm was scheduled already.
		defer func() {
			if !committed {
				s.a.cls.resyncAlarm(s.a.id, st)
			}
		}()
	}
	var inner error
	err = st.Transaction(ctx, func() error {
		inner = fn(s)
		return inner
	})
	committed = err == nil
	if err != nil && !errors.Is(err, inner) {
		return s.fail("Transaction", "", err)
	}
	return err
}

// SQL returns the object's own SQLite database, Workers' ctx.storage.sql,
// for tables of its own. It is the object's file, shared with the
// key-value pairs (in tables named _cf_*, which are not the object's to
// touch), and it is closed when the object is evicted: get it anew in each
// call rather than keeping it. When the file cannot be opened, every use
// of the returned database fails with the reason.
func (s *Storage) SQL() *sql.DB {
	st, err := s.store()
	if err != nil {
		return sql.OpenDB(failingConnector{err})
	}
	return st.DB()
}

type failingConnector struct{ err error }

func (f failingConnector) Connect(context.Context) (driver.Conn, error) { return nil, f.err }
func (f failingConnector) Driver() driver.Driver                        { return failingDriver(f) }

type failingDriver failingConnector

func (f failingDriver) Open(string) (driver.Conn, error) { return nil, f.err }

// SetAlarm sets the object's alarm: its Alarm method runs at (or soon
// after) at, even when the process has restarted meanwhile. It replaces an
// alarm set before. The class must have an Alarm(ctx context.Context) error
// method.
func (s *Storage) SetAlarm(ctx context.Context, at time.Time) error {
	ctx = checkCtx(ctx)
	if s.a == nil {
		return errors.New("workers: storage of no Durable Object")
	}
	c := s.a.cls
	if c.alarm == nil {
		return newError(ErrInvalidArgument, "%s: SetAlarm: type %s has no Alarm(ctx context.Context) error method to run", s.where(), c.ep.ctor.typ)
	}
	st, err := s.store()
	if err != nil {
		return err
	}
	ns := at.UnixNano()
	// The index first: it may name an object without an alarm, never miss one.
	if err := c.indexSet(ctx, s.a.id, ns); err != nil {
		return s.fail("SetAlarm", "", err)
	}
	if err := st.SetAlarm(ctx, ns); err != nil {
		return s.fail("SetAlarm", "", err)
	}
	c.schedule(s.a.id, ns, 0)
	return nil
}

// GetAlarm returns the time the alarm is set for, and false when none is
// set. While Alarm runs, its own alarm is no longer set.
func (s *Storage) GetAlarm(ctx context.Context) (time.Time, bool, error) {
	ctx = checkCtx(ctx)
	st, err := s.store()
	if err != nil {
		return time.Time{}, false, err
	}
	ns, ok, err := st.Alarm(ctx)
	if err != nil || !ok {
		return time.Time{}, false, s.fail("GetAlarm", "", err)
	}
	return time.Unix(0, ns), true, nil
}

// DeleteAlarm clears the alarm, if one is set.
func (s *Storage) DeleteAlarm(ctx context.Context) error {
	ctx = checkCtx(ctx)
	st, err := s.store()
	if err != nil {
		return err
	}
	if err := st.DeleteAlarm(ctx); err != nil {
		return s.fail("DeleteAlarm", "", err)
	}
	if c := s.a.cls; c.alarm != nil {
		c.unschedule(s.a.id)
		c.indexDelete(ctx, s.a.id)
	}
	return nil
}
