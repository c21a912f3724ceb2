package method

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Hash returns a digest of the table's method set: each method's name and
// canonical signature. workersgen computes the same digest from source (with
// go/types), so generated code can tell when it no longer matches its type.
func (t *Table) Hash() string {
	lines := make([]string, 0, len(t.Names))
	for _, n := range t.Names {
		m := t.Methods[n]
		lines = append(lines, n+" "+CanonicalSignature(m.Type, 1))
	}
	return HashLines(lines)
}

// HashLines digests method lines ("Name signature") in name order.
func HashLines(lines []string) string {
	lines = append([]string(nil), lines...)
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}

// CanonicalSignature renders a func type, skipping its first skip
// parameters (the receiver), in the form workersgen renders go/types
// signatures: named types by full package path, no parameter names.
func CanonicalSignature(t reflect.Type, skip int) string {
	var b strings.Builder
	b.WriteString("func(")
	for i := skip; i < t.NumIn(); i++ {
		if i > skip {
			b.WriteString(", ")
		}
		if t.IsVariadic() && i == t.NumIn()-1 {
			b.WriteString("...")
			b.WriteString(Canonical(t.In(i).Elem()))
			continue
		}
		b.WriteString(Canonical(t.In(i)))
	}
	b.WriteString(")")
	if t.NumOut() > 0 {
		b.WriteString(" (")
		for i := range t.NumOut() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(Canonical(t.Out(i)))
		}
		b.WriteString(")")
	}
	return b.String()
}

// Canonical renders a type with named types qualified by full package path.
func Canonical(t reflect.Type) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name() // predeclared: int, string, error
		}
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + Canonical(t.Elem())
	case reflect.Slice:
		return "[]" + Canonical(t.Elem())
	case reflect.Array:
		return "[" + strconv.Itoa(t.Len()) + "]" + Canonical(t.Elem())
	case reflect.Map:
		return "map[" + Canonical(t.Key()) + "]" + Canonical(t.Elem())
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.RecvDir:
			return "<-chan " + Canonical(t.Elem())
		case reflect.SendDir:
			return "chan<- " + Canonical(t.Elem())
		}
		return "chan " + Canonical(t.Elem())
	case reflect.Func:
		return CanonicalSignature(t, 0)
	case reflect.Struct:
		fields := make([]string, t.NumField())
		for i := range fields {
			f := t.Field(i)
			s := qualified(f.PkgPath, f.Name) + " " + Canonical(f.Type)
			if f.Anonymous {
				s = "embedded " + s
			}
			if f.Tag != "" {
				s += " " + strconv.Quote(string(f.Tag))
			}
			fields[i] = s
		}
		return "struct{" + strings.Join(fields, "; ") + "}"
	case reflect.Interface:
		methods := make([]string, t.NumMethod())
		for i := range methods {
			m := t.Method(i)
			methods[i] = qualified(m.PkgPath, m.Name) + CanonicalSignature(m.Type, 0)[len("func"):]
		}
		sort.Strings(methods)
		return "interface{" + strings.Join(methods, "; ") + "}"
	}
	return fmt.Sprint(t) // unnamed basic types do not occur: they all have names
}

// qualified names an unexported field or method by its package too, as
// two packages may each have one of that name.
func qualified(pkgPath, name string) string {
	if pkgPath == "" {
		return name
	}
	return pkgPath + "." + name
}
