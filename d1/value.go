package d1

import (
	"database/sql/driver"
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// This file turns driver values into the values D1 returns: int64, float64,
// string, []byte or nil, exactly as SQLite stored them.
//
// modernc.org/sqlite parses TEXT in columns declared DATE, DATETIME or
// TIMESTAMP into time.Time and offers no way to turn that off. D1 returns
// the stored text, and schemas written for D1 are full of
// "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP", so the parse would show
// up in almost every result. The driver decides by the declared types it
// keeps per result set; keepText blanks them before the first row is read,
// so the text arrives untouched. It reaches an unexported field, found by
// reflection and checked for its type: should a driver release rename it,
// keepText does nothing and normalize formats the time.Time back to text
// (exact for SQLite's own "YYYY-MM-DD HH:MM:SS" form), and the tests that
// compare stored text notice.

// declTypesField is where a driver rows type keeps its declared types.
type declTypesField struct {
	offset uintptr
	ok     bool
}

var declTypesFields sync.Map // reflect.Type -> declTypesField

// keepText makes rows return TEXT columns as strings.
func keepText(rows driver.Rows) {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	t := v.Type()
	cached, ok := declTypesFields.Load(t)
	if !ok {
		var field declTypesField
		if st := t.Elem(); st.Kind() == reflect.Struct {
			if f, found := st.FieldByName("decltypes"); found && f.Type == reflect.TypeFor[[]string]() && len(f.Index) == 1 {
				field = declTypesField{offset: f.Offset, ok: true}
			}
		}
		cached, _ = declTypesFields.LoadOrStore(t, field)
	}
	field := cached.(declTypesField)
	if !field.ok {
		return
	}
	clear(*(*[]string)(unsafe.Add(v.UnsafePointer(), field.offset)))
}

// normalize returns v as D1 would: an int64, float64, string, non-nil
// []byte (an empty BLOB is not NULL) or nil.
func normalize(v driver.Value) any {
	switch x := v.(type) {
	case []byte:
		if x == nil {
			return []byte{}
		}
		return x
	case time.Time:
		return formatSQLiteTime(x)
	case bool: // not produced by the driver today; keep D1's 0/1
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// formatSQLiteTime writes t the way SQLite's datetime() does, with the
// fraction and offset only when they carry information.
func formatSQLiteTime(t time.Time) string {
	if _, off := t.Zone(); off == 0 {
		return t.Format("2006-01-02 15:04:05.999999999")
	}
	return t.Format("2006-01-02 15:04:05.999999999-07:00")
}
