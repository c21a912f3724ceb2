package d1

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
)

// AllAs runs s and returns its rows as values of the struct type T, the Go
// counterpart of all<T>() in D1's TypeScript API.
//
// A column is stored in the exported field whose `d1:"name"` tag names it,
// ignoring case; fields without a tag match a column whose name equals the
// field's name ignoring case and underscores, so column created_at fills
// field CreatedAt. A tag of "-" skips the field. Fields of embedded structs
// are matched too, outer fields first. Columns with no field are ignored;
// fields with no column keep their zero value.
//
// NULL leaves a field at its zero value (a pointer field nil). Other
// values are converted where no information is lost: INTEGER to any
// integer type that holds it, to bool (non-zero is true) and to floats;
// REAL to floats, and to integers when it is a whole number; TEXT and BLOB
// to string and []byte; TEXT in RFC 3339 or SQLite's date and time formats
// and INTEGER Unix seconds to time.Time. Fields of type any get the value
// as it is, and fields implementing sql.Scanner scan it themselves. Any
// other combination is an error wrapping [ErrScanType] that names the
// column and the field.
func AllAs[T any](ctx context.Context, s *Statement) ([]T, error) {
	plan, err := planFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	out, err := s.exec(ctx, 0)
	if err != nil {
		return nil, err
	}
	fields := plan.match(out.columns)
	items := make([]T, len(out.rows))
	for i, row := range out.rows {
		if err := plan.fill(reflect.ValueOf(&items[i]).Elem(), fields, out.columns, row); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// FirstAs runs s and returns its first row as a T, as [AllAs] converts it.
// ok is false, with no error, when there is no row.
func FirstAs[T any](ctx context.Context, s *Statement) (item T, ok bool, err error) {
	plan, err := planFor(reflect.TypeFor[T]())
	if err != nil {
		return item, false, err
	}
	out, err := s.exec(ctx, 1)
	if err != nil || len(out.rows) == 0 {
		return item, false, err
	}
	if err := plan.fill(reflect.ValueOf(&item).Elem(), plan.match(out.columns), out.columns, out.rows[0]); err != nil {
		return item, false, err
	}
	return item, true, nil
}

// scanPlan maps column names to the fields of a struct type.
type scanPlan struct {
	typ    reflect.Type
	tagged map[string]*scanField // lower-cased tag name
	named  map[string]*scanField // lower-cased field name without underscores
}

type scanField struct {
	index []int
	name  string // Type.Field, for errors
}

var scanPlans sync.Map // reflect.Type -> *scanPlan

func planFor(t reflect.Type) (*scanPlan, error) {
	if p, ok := scanPlans.Load(t); ok {
		return p.(*scanPlan), nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v", ErrNotStruct, t)
	}
	p := &scanPlan{typ: t, tagged: map[string]*scanField{}, named: map[string]*scanField{}}
	p.add(t, nil, map[reflect.Type]bool{t: true})
	cached, _ := scanPlans.LoadOrStore(t, p)
	return cached.(*scanPlan), nil
}

// add records the fields of t, breadth first so that a shallower field
// wins over an embedded one of the same name, as in Go itself.
func (p *scanPlan) add(t reflect.Type, prefix []int, seen map[reflect.Type]bool) {
	var embedded []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("d1")
		tag, _, _ = strings.Cut(tag, ",") // options, as in `d1:"name,omitempty"`, mean nothing here
		if tag == "-" {
			continue
		}
		if f.Anonymous && !hasTag && f.Type.Kind() == reflect.Struct && !seen[f.Type] {
			embedded = append(embedded, f)
			continue
		}
		if !f.IsExported() {
			continue
		}
		sf := &scanField{
			index: append(append([]int(nil), prefix...), i),
			name:  p.typ.Name() + "." + f.Name,
		}
		if tag != "" {
			key := strings.ToLower(tag)
			if _, dup := p.tagged[key]; !dup {
				p.tagged[key] = sf
			}
			continue
		}
		key := foldName(f.Name)
		if _, dup := p.named[key]; !dup {
			p.named[key] = sf
		}
	}
	for _, f := range embedded {
		seen[f.Type] = true
		p.add(f.Type, append(append([]int(nil), prefix...), f.Index...), seen)
	}
}

// foldName is the form in which untagged names are compared.
func foldName(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// match returns the field of each column, nil for columns with none.
func (p *scanPlan) match(columns []string) []*scanField {
	fields := make([]*scanField, len(columns))
	for i, c := range columns {
		if f, ok := p.tagged[strings.ToLower(c)]; ok {
			fields[i] = f
		} else if f, ok := p.named[foldName(c)]; ok {
			fields[i] = f
		}
	}
	return fields
}

func (p *scanPlan) fill(dst reflect.Value, fields []*scanField, columns []string, row []any) error {
	for i, f := range fields {
		if f == nil {
			continue
		}
		fv := dst.FieldByIndex(f.index)
		if err := setField(fv, row[i]); err != nil {
			return fmt.Errorf("%w: column %q (%s) into field %s (%v): %w",
				ErrScanType, columns[i], typeName(row[i]), f.name, fv.Type(), err)
		}
	}
	return nil
}

// typeName names the SQLite storage class of a result value.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "NULL"
	case int64:
		return "INTEGER"
	case float64:
		return "REAL"
	case string:
		return "TEXT"
	case []byte:
		return "BLOB"
	}
	return fmt.Sprintf("%T", v)
}

var (
	errMismatch = fmt.Errorf("incompatible types")
	errOverflow = fmt.Errorf("value out of range")
	timeType    = reflect.TypeFor[time.Time]()
	scannerType = reflect.TypeFor[sql.Scanner]()
)

// setField stores the result value v in field f.
func setField(f reflect.Value, v any) error {
	if reflect.PointerTo(f.Type()).Implements(scannerType) {
		return f.Addr().Interface().(sql.Scanner).Scan(v)
	}
	if v == nil {
		f.SetZero()
		return nil
	}
	switch f.Kind() {
	case reflect.Interface:
		if f.NumMethod() == 0 {
			f.Set(reflect.ValueOf(v))
			return nil
		}
		return errMismatch
	case reflect.Pointer:
		elem := reflect.New(f.Type().Elem())
		if err := setField(elem.Elem(), v); err != nil {
			return err
		}
		f.Set(elem)
		return nil
	}
	if f.Type() == timeType {
		t, err := toTime(v)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(t))
		return nil
	}
	switch x := v.(type) {
	case int64:
		return setInt(f, x)
	case float64:
		return setFloat(f, x)
	case string:
		switch {
		case f.Kind() == reflect.String:
			f.SetString(x)
			return nil
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			f.SetBytes([]byte(x))
			return nil
		}
	case []byte:
		switch {
		case f.Kind() == reflect.String:
			f.SetString(string(x))
			return nil
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			f.SetBytes(append([]byte(nil), x...))
			return nil
		}
	}
	return errMismatch
}

func setInt(f reflect.Value, x int64) error {
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(x != 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if f.OverflowInt(x) {
			return errOverflow
		}
		f.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if x < 0 || f.OverflowUint(uint64(x)) {
			return errOverflow
		}
		f.SetUint(uint64(x))
	case reflect.Float32, reflect.Float64:
		f.SetFloat(float64(x))
	default:
		return errMismatch
	}
	return nil
}

func setFloat(f reflect.Value, x float64) error {
	switch f.Kind() {
	case reflect.Float32, reflect.Float64:
		if f.OverflowFloat(x) {
			return errOverflow
		}
		f.SetFloat(x)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		// Whole numbers only, within the range where float64 is exact
		// about it.
		if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
			return errOverflow
		}
		return setInt(f, int64(x))
	}
	return errMismatch
}

// timeLayouts are the text forms read into time.Time: RFC 3339, which
// Bind writes, and the forms of SQLite's date and time functions.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case string:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("unrecognised time format")
	}
	return time.Time{}, errMismatch
}
