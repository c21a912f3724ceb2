package clone

import (
	"fmt"
	"reflect"
	"strconv"
)

// Check reports whether v can cross, with the error [Copier.CopyValueSwap]
// would give, without copying it: it walks v as a copy would, with the same
// refusals (a channel or unsafe pointer that is not nil, a struct with
// unexported data), and lets values that cross by reference (see
// [Copier.Swapping]) pass as they are, as a copy whose swap function keeps
// them would. It is for a value a transport is about to encode, which must
// be refused as it would be in-process. It allocates only for the entries
// of maps (reflection reads them into values of their own), to remember
// references beyond the first eight it follows, past a few hundred levels
// of depth (where it hands over to the copy's own walk), and for an error.
func (c *Copier) Check(v reflect.Value) error {
	if !v.IsValid() {
		return nil
	}
	if p := c.plan(v.Type()); p == planNone || p == planRef {
		return nil
	}
	var k checker
	k.c = c
	err := k.check(v, 0)
	if e, ok := err.(*Error); ok && len(e.Path) > maxPath {
		err = &Error{Path: shorten(e.Path), Type: e.Type, Reason: e.Reason}
	}
	return err
}

// keep is the swap function of a check: a reference stands for itself.
func keep(v reflect.Value) (reflect.Value, error) { return v, nil }

// checker is one Check. Like a copy's memo, seen ends walks through cycles
// and shared references: the first few in an array that stays on the
// caller's stack, the rest in a map.
type checker struct {
	c    *Copier
	seen [8]memoKey
	n    int
	more map[memoKey]bool
}

// visited reports whether k was met before, and remembers it.
func (k *checker) visited(key memoKey) bool {
	for i := range k.n {
		if k.seen[i] == key {
			return true
		}
	}
	if k.more[key] {
		return true
	}
	if k.n < len(k.seen) {
		k.seen[k.n] = key
		k.n++
		return false
	}
	if k.more == nil {
		k.more = make(map[memoKey]bool)
	}
	k.more[key] = true
	return false
}

// check is copyRec without the copy; depth counts its calls as a copy
// counts copy's, so that it hands over to walk where a copy would.
func (k *checker) check(v reflect.Value, depth int) error {
	if depth >= recurseLimit {
		s := state{c: k.c, swap: keep, depth: depth}
		_, err := s.walk(v)
		return err
	}
	depth++
	t := v.Type()
	if k.c.shallow(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.UnsafePointer:
		if v.IsNil() {
			return nil
		}
		return &Error{Type: t}
	case reflect.Pointer:
		if v.IsNil() || k.c.swapped(t) || k.visited(memoKey{ptr: v.UnsafePointer(), typ: t}) {
			return nil
		}
		if err := k.check(v.Elem(), depth); err != nil {
			return prefix(err, "*")
		}
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if e := v.Elem(); !k.c.swapped(e.Type()) {
			return k.check(e, depth)
		}
	case reflect.Slice:
		if v.IsNil() || k.c.shallow(t.Elem()) || k.visited(memoKey{ptr: v.UnsafePointer(), len: v.Len(), typ: t}) {
			return nil
		}
		for i := range v.Len() {
			if err := k.check(v.Index(i), depth); err != nil {
				return prefix(err, "["+strconv.Itoa(i)+"]")
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			if err := k.check(v.Index(i), depth); err != nil {
				return prefix(err, "["+strconv.Itoa(i)+"]")
			}
		}
	case reflect.Map:
		if v.IsNil() || k.visited(memoKey{ptr: v.UnsafePointer(), typ: t}) {
			return nil
		}
		it := v.MapRange()
		for it.Next() {
			if err := k.check(it.Key(), depth); err != nil {
				return prefix(err, "[key]")
			}
			if err := k.check(it.Value(), depth); err != nil {
				return prefix(err, "["+fmt.Sprint(it.Key())+"]")
			}
		}
	case reflect.Struct:
		if reason := k.c.hidden(t); reason != "" {
			return &Error{Type: t, Reason: reason}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || k.c.shallow(f.Type) {
				continue
			}
			if err := k.check(v.Field(i), depth); err != nil {
				return prefix(err, "."+f.Name)
			}
		}
	}
	return nil
}
