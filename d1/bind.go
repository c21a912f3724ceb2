package d1

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"time"
)

// bindArgs converts the values given to [Statement.Bind] into the values
// bound to the statement's parameters, ?1 first.
func bindArgs(args []any) ([]driver.NamedValue, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := bindValue(a, true)
		if err != nil {
			return nil, fmt.Errorf("%w (argument %d, %T)", err, i, a)
		}
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out, nil
}

// bindValue converts one value to int64, float64, string, []byte or nil,
// the storage classes of SQLite. valuer allows one call of a
// driver.Valuer, whose result is converted in turn.
func bindValue(a any, valuer bool) (driver.Value, error) {
	switch x := a.(type) {
	case nil:
		return nil, nil
	case bool:
		if x { // D1 stores booleans as 1 and 0
			return int64(1), nil
		}
		return int64(0), nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint:
		return uintValue(uint64(x))
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return uintValue(x)
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		return x, nil
	case []byte:
		// Copied, so that changing the slice after Bind does not change
		// the statement; nil stays nil and binds NULL.
		return bytes.Clone(x), nil
	case time.Time:
		return formatTime(x), nil
	}

	rv := reflect.ValueOf(a)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, nil
	}
	if vr, ok := a.(driver.Valuer); ok && valuer {
		v, err := vr.Value()
		if err != nil {
			return nil, err
		}
		return bindValue(v, false)
	}
	if rv.Kind() == reflect.Pointer {
		// One level only: a pointer to a supported value.
		rv = rv.Elem()
		if rv.Kind() == reflect.Pointer {
			return nil, ErrUnsupportedType
		}
		return bindValue(rv.Interface(), valuer)
	}
	// Types defined over a supported kind, such as type UserID int64.
	switch rv.Kind() {
	case reflect.Bool:
		return bindValue(rv.Bool(), false)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintValue(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return bindValue(rv.Bytes(), false)
		}
	}
	return nil, ErrUnsupportedType
}

func uintValue(u uint64) (driver.Value, error) {
	if u > math.MaxInt64 {
		return nil, fmt.Errorf("%w: %d exceeds the int64 range", ErrOutOfRange, u)
	}
	return int64(u), nil
}

// formatTime is how a time.Time is stored: RFC 3339 text in UTC, with as
// many fractional digits as needed, like JavaScript's toISOString but
// without its fixed milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
