// Package clone copies values across an invocation boundary with the
// semantics of Workers' structured clone: the receiver gets a deep copy, so
// mutations never travel back. Functions and registered reference types pass
// by reference; channels and unsafe pointers cannot cross.
//
// Plans are computed once per type, so the common case (scalars, strings,
// pointer-free structs) costs a type lookup and no allocation. Values of
// any depth copy: past a few hundred levels the copy keeps its work in a
// slice instead of recursing, so that a list of a million nodes cannot
// overflow the goroutine's stack.
package clone

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// A Copier deep-copies values. Its zero value copies everything except funcs
// by value; [New] adds reference types. A Copier is safe for concurrent use.
type Copier struct {
	refTypes  map[reflect.Type]bool
	refIfaces []reflect.Type
	swaps     func(reflect.Type) bool // types that cross as a stand-in; see Swapping
	strict    bool                    // refuse structs with unexported data; see Strict
	plans     sync.Map                // reflect.Type -> plan
	fields    sync.Map                // struct reflect.Type -> []int, see deepFields
	hiddenWhy sync.Map                // struct reflect.Type -> string, see hidden
}

// New returns a Copier that passes values of the given types by reference.
// An interface type in refs makes every dynamic type implementing it pass by
// reference (context.Context, say).
func New(refs ...reflect.Type) *Copier {
	c := &Copier{refTypes: make(map[reflect.Type]bool)}
	for _, t := range refs {
		if t.Kind() == reflect.Interface {
			c.refIfaces = append(c.refIfaces, t)
			continue
		}
		c.refTypes[t] = true
	}
	return c
}

// Swapping makes c give values of the types swaps accepts a stand-in when
// they cross, wherever they are in a value: the runtime's RpcTargets and
// stubs become new stubs. The stand-in comes from the swap function of
// each copy ([Copier.CopyValueSwap]); a copy without one refuses such
// values. Call it once, before c is used.
func (c *Copier) Swapping(swaps func(reflect.Type) bool) *Copier {
	c.swaps = swaps
	return c
}

// Strict makes c refuse structs whose unexported fields hold data, unless
// they marshal themselves (see [Copier.hidden]), instead of copying those
// fields shallowly: what crosses a process boundary must be what crosses in
// one. Call it once, before c is used.
func (c *Copier) Strict() *Copier {
	c.strict = true
	return c
}

// A SwapFunc returns the stand-in for v, a value of a type that crosses by
// reference.
type SwapFunc func(v reflect.Value) (reflect.Value, error)

type plan uint8

const (
	planNone   plan = iota // immutable or pointer-free: the value itself is a copy
	planRef                // passes by reference
	planDeep               // holds references that must be copied
	planRefuse             // cannot cross at all
)

// Error reports a value that cannot be copied. Path locates it inside the
// value, for example ".Items[2].Done".
type Error struct {
	Path   string
	Type   reflect.Type
	Reason string // why, when it is not that the type cannot cross at all
}

var (
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
)

// hidden says why values of the struct type t cannot cross: unexported
// fields that hold data, which no copy (and no encoding, over a network)
// can carry, unless the type marshals itself, as time.Time does; "" when
// they can.
func (c *Copier) hidden(t reflect.Type) string {
	if !c.strict {
		return ""
	}
	if r, ok := c.hiddenWhy.Load(t); ok {
		return r.(string)
	}
	why := ""
	marshals := func(t reflect.Type) bool {
		return t.Implements(binaryMarshaler) || t.Implements(textMarshaler)
	}
	if !marshals(t) && !marshals(reflect.PointerTo(t)) {
		for i := range t.NumField() {
			if f := t.Field(i); !f.IsExported() && f.Type.Size() > 0 {
				why = fmt.Sprintf("its unexported field %s holds data that cannot cross; export the fields, implement encoding.BinaryMarshaler or encoding.TextMarshaler, or embed workers.RpcTarget to pass it by reference", f.Name)
				break
			}
		}
	}
	c.hiddenWhy.Store(t, why)
	return why
}

// swapped reports whether values of t cross as a stand-in.
func (c *Copier) swapped(t reflect.Type) bool {
	return c.swaps != nil && t.Kind() == reflect.Pointer && c.swaps(t)
}

// swapTo returns the stand-in of v for a place of type at.
func (s *state) swapTo(v reflect.Value, at reflect.Type) (reflect.Value, error) {
	if s.swap == nil {
		return reflect.Value{}, &Error{Type: v.Type(), Reason: "it crosses by reference, and cannot here"}
	}
	out, err := s.swap(v)
	if err != nil {
		return reflect.Value{}, err
	}
	if !out.Type().AssignableTo(at) {
		return reflect.Value{}, &Error{Type: v.Type(), Reason: fmt.Sprintf("it crosses by reference as a %s, which a %s cannot hold: declare it as %s (or any)", out.Type(), at, out.Type())}
	}
	return out, nil
}

func (e *Error) Error() string {
	if e.Reason != "" {
		if e.Path == "" {
			return fmt.Sprintf("a value of type %s: %s", e.Type, e.Reason)
		}
		return fmt.Sprintf("%s: a value of type %s: %s", e.Path, e.Type, e.Reason)
	}
	if e.Path == "" {
		return fmt.Sprintf("a value of type %s cannot be copied", e.Type)
	}
	return fmt.Sprintf("%s: a value of type %s cannot be copied", e.Path, e.Type)
}

func (c *Copier) plan(t reflect.Type) plan {
	if p, ok := c.plans.Load(t); ok {
		return p.(plan)
	}
	p := c.computePlan(t, map[reflect.Type]bool{})
	c.plans.Store(t, p)
	return p
}

func (c *Copier) isRef(t reflect.Type) bool {
	if c.refTypes[t] {
		return true
	}
	for _, it := range c.refIfaces {
		if t.Implements(it) {
			return true
		}
	}
	return false
}

func (c *Copier) computePlan(t reflect.Type, seen map[reflect.Type]bool) plan {
	if c.swaps != nil && c.swaps(t) {
		return planDeep // visited, to be swapped
	}
	if c.isRef(t) {
		return planRef
	}
	switch t.Kind() {
	case reflect.Func:
		return planRef
	case reflect.Chan, reflect.UnsafePointer:
		return planRefuse
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return planDeep
	case reflect.Array:
		if t.Len() == 0 {
			return planNone
		}
		switch p := c.computePlan(t.Elem(), seen); p {
		case planRef:
			return planNone // an array of funcs copies as a value
		default:
			return p
		}
	case reflect.Struct:
		if seen[t] {
			return planNone // recursion only through pointers, which say deep themselves
		}
		seen[t] = true
		if c.hidden(t) != "" {
			return planRefuse
		}
		out := planNone
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue // copied shallowly with the struct, which marshals itself
			}
			switch c.computePlan(f.Type, seen) {
			case planRefuse:
				return planRefuse
			case planDeep:
				out = planDeep
			}
		}
		return out
	default:
		return planNone
	}
}

// NeedsCopy reports whether values of type t must be deep-copied, and
// whether they can cross at all.
func (c *Copier) NeedsCopy(t reflect.Type) (needs bool, ok bool) {
	switch c.plan(t) {
	case planDeep:
		return true, true
	case planRefuse:
		return false, false
	default:
		return false, true
	}
}

// Copy returns a deep copy of v.
func (c *Copier) Copy(v any) (any, error) {
	switch v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, string:
		return v, nil
	}
	rv := reflect.ValueOf(v)
	if p := c.plan(rv.Type()); p == planNone || p == planRef {
		return v, nil
	}
	out, err := c.CopyValue(rv)
	if err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

// CopyValue returns a deep copy of v as a value of the same type. The zero
// Value (no value at all) copies as itself.
func (c *Copier) CopyValue(v reflect.Value) (reflect.Value, error) {
	return c.CopyValueSwap(v, nil)
}

// CopyValueSwap is CopyValue with swap giving the stand-ins of values that
// cross by reference (see [Copier.Swapping]).
func (c *Copier) CopyValueSwap(v reflect.Value, swap SwapFunc) (reflect.Value, error) {
	if !v.IsValid() {
		return v, nil
	}
	if p := c.plan(v.Type()); p == planNone || p == planRef {
		return v, nil
	}
	s := state{c: c, swap: swap}
	out, err := s.copy(v)
	if err != nil {
		if e, ok := err.(*Error); ok && len(e.Path) > maxPath {
			err = &Error{Path: shorten(e.Path), Type: e.Type, Reason: e.Reason}
		}
		return reflect.Value{}, err
	}
	return out, nil
}

type memoKey struct {
	ptr unsafe.Pointer
	len int
	typ reflect.Type
}

// state is one deep copy: memo keeps shared and cyclic references shared
// and cyclic in the copy, and ends walks that would loop forever. depth
// counts the calls of copy on the goroutine's stack: past recurseLimit,
// the rest of the value is copied by walk, whose stack is a slice, so that
// no value (a list of a million nodes, say) can overflow the goroutine's.
type state struct {
	c     *Copier
	swap  SwapFunc
	memo  map[memoKey]reflect.Value
	depth int
	stack []frame // walk's
	steps []step  // walk's
}

// recurseLimit is how deep copy recurses before it hands over to walk.
// Recursion is the faster of the two, and values are rarely deeper than
// a few levels; a variable so that tests can run everything through walk.
var recurseLimit = 256

func (s *state) remember(k memoKey, v reflect.Value) {
	if s.memo == nil {
		s.memo = make(map[memoKey]reflect.Value)
	}
	s.memo[k] = v
}

func (s *state) copy(v reflect.Value) (reflect.Value, error) {
	if s.depth >= recurseLimit {
		return s.walk(v)
	}
	s.depth++
	out, err := s.copyRec(v)
	s.depth--
	return out, err
}

// copyRec copies v, recursing through copy into what v refers to.
func (s *state) copyRec(v reflect.Value) (reflect.Value, error) {
	t := v.Type()
	if p := s.c.plan(t); p == planNone || p == planRef {
		return v, nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.UnsafePointer:
		if v.IsNil() {
			return v, nil // a nil channel carries nothing
		}
		return reflect.Value{}, &Error{Type: t}
	case reflect.Pointer:
		if v.IsNil() {
			return v, nil
		}
		if s.c.swapped(t) {
			return s.swapTo(v, t)
		}
		k := memoKey{ptr: v.UnsafePointer(), typ: t}
		if done, ok := s.memo[k]; ok {
			return done, nil
		}
		out := reflect.New(t.Elem())
		s.remember(k, out)
		elem, err := s.copy(v.Elem())
		if err != nil {
			return reflect.Value{}, prefix(err, "*")
		}
		out.Elem().Set(elem)
		return out, nil
	case reflect.Interface:
		if v.IsNil() {
			return v, nil
		}
		var elem reflect.Value
		var err error
		if e := v.Elem(); s.c.swapped(e.Type()) {
			elem, err = s.swapTo(e, t)
		} else {
			elem, err = s.copy(e)
		}
		if err != nil {
			return reflect.Value{}, err
		}
		out := reflect.New(t).Elem()
		out.Set(elem)
		return out, nil
	case reflect.Slice:
		if v.IsNil() {
			return v, nil
		}
		k := memoKey{ptr: v.UnsafePointer(), len: v.Len(), typ: t}
		if done, ok := s.memo[k]; ok {
			return done, nil
		}
		n := v.Len()
		out := reflect.MakeSlice(t, n, n)
		s.remember(k, out)
		if ep := s.c.plan(t.Elem()); ep == planNone || ep == planRef {
			reflect.Copy(out, v)
			return out, nil
		}
		for i := range n {
			e, err := s.copy(v.Index(i))
			if err != nil {
				return reflect.Value{}, prefix(err, "["+strconv.Itoa(i)+"]")
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Array:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range v.Len() {
			e, err := s.copy(v.Index(i))
			if err != nil {
				return reflect.Value{}, prefix(err, "["+strconv.Itoa(i)+"]")
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return v, nil
		}
		k := memoKey{ptr: v.UnsafePointer(), typ: t}
		if done, ok := s.memo[k]; ok {
			return done, nil
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		s.remember(k, out)
		it := v.MapRange()
		for it.Next() {
			mk, err := s.copy(it.Key())
			if err != nil {
				return reflect.Value{}, prefix(err, "[key]")
			}
			mv, err := s.copy(it.Value())
			if err != nil {
				return reflect.Value{}, prefix(err, "["+fmt.Sprint(it.Key())+"]")
			}
			out.SetMapIndex(mk, mv)
		}
		return out, nil
	case reflect.Struct:
		if reason := s.c.hidden(t); reason != "" {
			return reflect.Value{}, &Error{Type: t, Reason: reason}
		}
		out := reflect.New(t).Elem()
		out.Set(v) // unexported fields travel shallowly: they are not reachable through reflection
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if fp := s.c.plan(f.Type); fp == planNone || fp == planRef {
				continue
			}
			e, err := s.copy(v.Field(i))
			if err != nil {
				return reflect.Value{}, prefix(err, "."+f.Name)
			}
			out.Field(i).Set(e)
		}
		return out, nil
	}
	return v, nil
}

// maxPath bounds the length of an error's path: a path through map keys
// can be as long as they are.
const maxPath = 1024

// shorten cuts the middle out of a path longer than maxPath.
func shorten(p string) string {
	head, tail := maxPath/2, len(p)-maxPath/2
	for head > 0 && !utf8.RuneStart(p[head]) {
		head--
	}
	for tail < len(p) && !utf8.RuneStart(p[tail]) {
		tail++
	}
	return p[:head] + "..." + p[tail:]
}

func prefix(err error, seg string) error {
	if e, ok := err.(*Error); ok {
		return &Error{Path: seg + e.Path, Type: e.Type, Reason: e.Reason}
	}
	return err
}
