package clone

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// walk copies v as copyRec does, with the same memo, but keeps what it has
// still to do in s.stack instead of on the goroutine's stack, so that no
// value is too deep for it. Each frame is a value whose copy is under way,
// as a call of copyRec would be, so the frames are the path from v to the
// value being copied. A struct, slice or array whose last part is being
// copied needs its frame no more: like a tail call, the frame is dropped
// and only its step of the path kept (in s.steps, where a list's repeated
// steps take one entry), so that a linked list of any length takes a
// stack of one frame.
func (s *state) walk(v reflect.Value) (reflect.Value, error) {
	out := reflect.New(v.Type()).Elem()
	defer func() {
		clear(s.stack) // let the collector have what the frames held
		s.stack, s.steps = s.stack[:0], s.steps[:0]
	}()
	if err := s.visit(v, out); err != nil {
		return reflect.Value{}, err
	}
	for len(s.stack) > 0 {
		f := &s.stack[len(s.stack)-1]
		s.steps = s.steps[:f.steps] // drop those of the frame's finished parts
		var src, dst reflect.Value
		switch f.kind {
		case reflect.Struct:
			fields := s.c.deepFields(f.src.Type())
			if f.i == len(fields) {
				s.pop()
				continue
			}
			src, dst = f.src.Field(fields[f.i]), f.dst.Field(fields[f.i])
			f.i++
			if f.i == len(fields) {
				s.tailCall(f)
			}
		case reflect.Slice, reflect.Array:
			if f.i == f.src.Len() {
				s.pop()
				continue
			}
			src, dst = f.src.Index(f.i), f.dst.Index(f.i)
			f.i++
			if f.i == f.src.Len() {
				s.tailCall(f)
			}
		case reflect.Interface:
			if f.i == 1 {
				f.dst.Set(f.src) // the copy of the dynamic value, now whole
				s.pop()
				continue
			}
			// An interface holds a struct or array by value: copy it into a
			// variable of its own, and set the interface once that is done.
			src = f.src
			dst = reflect.New(src.Type()).Elem()
			f.src, f.i = dst, 1
		case reflect.Map:
			m := f.m
			switch f.i {
			case mapNext:
				if !m.iter.Next() {
					s.pop()
					continue
				}
				t := f.src.Type()
				if s.c.shallow(t.Key()) {
					m.key, f.i = m.iter.Key(), mapKeyDone
					continue
				}
				src, dst = m.iter.Key(), reflect.New(t.Key()).Elem()
				m.key, f.i = dst, mapKeyDone
			case mapKeyDone:
				t := f.src.Type()
				if s.c.shallow(t.Elem()) {
					f.dst.SetMapIndex(m.key, m.iter.Value())
					f.i = mapNext
					continue
				}
				src, dst = m.iter.Value(), reflect.New(t.Elem()).Elem()
				m.val, f.i = dst, mapValueDone
			case mapValueDone:
				f.dst.SetMapIndex(m.key, m.val)
				m.key, m.val, f.i = reflect.Value{}, reflect.Value{}, mapNext
				continue
			}
		}
		// f may not survive what visit pushes: it is not used again.
		if err := s.visit(src, dst); err != nil {
			return reflect.Value{}, err
		}
	}
	return out, nil
}

// A frame is a value walk is copying: src into dst, which is settable and
// of src's type. i is where the copy is: the next of the struct's deep
// fields or of the elements, for an interface whether its dynamic value is
// copied (into src, then), for a map one of the map states. stars counts
// the pointers walk followed to reach the frame, after the steps of
// s.steps below steps, for the error path.
type frame struct {
	src, dst reflect.Value
	m        *mapFrame
	i        int
	steps    int32
	stars    int32
	kind     reflect.Kind
}

// mapFrame is what a map's frame needs beyond a frame: its iterator, and
// the copies of the current key and value until both are done.
type mapFrame struct {
	iter     *reflect.MapIter
	key, val reflect.Value
}

const (
	mapNext      = iota // take the next entry
	mapKeyDone          // the key's copy is done (or under way): copy the value
	mapValueDone        // both are done: store the entry
)

// A step is the step of the path through a frame that tailCall dropped,
// times n: n pointers followed then a field or element taken, all alike.
type step struct {
	typ   reflect.Type // the struct's, for its field's name
	i     int          // the field's index or the element's
	n     int
	stars int32
	kind  reflect.Kind
}

func (s *state) push(f frame) {
	f.steps = int32(len(s.steps))
	s.stack = append(s.stack, f)
}

func (s *state) pop() {
	s.stack[len(s.stack)-1] = frame{}
	s.stack = s.stack[:len(s.stack)-1]
}

// tailCall drops the top frame f, whose last part is about to be copied,
// and keeps its step of the path.
func (s *state) tailCall(f *frame) {
	st := step{typ: f.src.Type(), i: f.i - 1, n: 1, stars: f.stars, kind: f.kind}
	if f.kind == reflect.Struct {
		st.i = s.c.deepFields(st.typ)[st.i]
	}
	if k := len(s.steps) - 1; k >= 0 {
		if last := &s.steps[k]; last.typ == st.typ && last.i == st.i && last.stars == st.stars {
			last.n++
			s.pop()
			return
		}
	}
	s.steps = append(s.steps, st)
	s.pop()
}

// shallow reports whether values of type t are their own copy.
func (c *Copier) shallow(t reflect.Type) bool {
	p := c.plan(t)
	return p == planNone || p == planRef
}

// deepFields returns the indices of the fields of struct type t that must
// be copied on their own: exported (unexported fields travel with the
// struct) and deep.
func (c *Copier) deepFields(t reflect.Type) []int {
	if f, ok := c.fields.Load(t); ok {
		return f.([]int)
	}
	var fields []int
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && !c.shallow(f.Type) {
			fields = append(fields, i)
		}
	}
	c.fields.Store(t, fields)
	return fields
}

// visit starts the copy of src into dst: it finishes it when src refers to
// nothing new, else sets dst to the copy's reference (so that cycles and
// shared references find it in the memo) and pushes a frame for what is
// left. Pointers, and interfaces holding references, are followed in a
// loop, not with frames of their own: a reference's copy is whole once
// made, however much of what it refers to is still to copy.
func (s *state) visit(src, dst reflect.Value) error {
	var stars int32
	for {
		t := src.Type()
		if s.c.shallow(t) {
			dst.Set(src)
			return nil
		}
		switch t.Kind() {
		case reflect.Chan, reflect.UnsafePointer:
			if !src.IsNil() {
				return &Error{Path: s.path(stars), Type: t}
			}
			dst.Set(src)
		case reflect.Pointer:
			if src.IsNil() {
				dst.Set(src)
				return nil
			}
			if s.c.swapped(t) {
				v, err := s.swapTo(src, dst.Type())
				if err != nil {
					if e, ok := err.(*Error); ok {
						e.Path = s.path(stars)
					}
					return err
				}
				dst.Set(v)
				return nil
			}
			k := memoKey{ptr: src.UnsafePointer(), typ: t}
			if done, ok := s.memo[k]; ok {
				dst.Set(done)
				return nil
			}
			out := reflect.New(t.Elem())
			s.remember(k, out)
			dst.Set(out) // dst may be an interface: that holds out as well
			src, dst = src.Elem(), out.Elem()
			stars++
			continue
		case reflect.Interface:
			if src.IsNil() {
				dst.Set(src)
				return nil
			}
			e := src.Elem()
			if s.c.shallow(e.Type()) && !s.c.swapped(e.Type()) {
				dst.Set(src)
				return nil
			}
			switch e.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map:
				src = e // its copy goes into the interface dst at once
				continue
			}
			s.push(frame{src: e, dst: dst, kind: reflect.Interface, stars: stars})
		case reflect.Slice:
			if src.IsNil() {
				dst.Set(src)
				return nil
			}
			k := memoKey{ptr: src.UnsafePointer(), len: src.Len(), typ: t}
			if done, ok := s.memo[k]; ok {
				dst.Set(done)
				return nil
			}
			n := src.Len()
			out := reflect.MakeSlice(t, n, n)
			s.remember(k, out)
			dst.Set(out)
			if s.c.shallow(t.Elem()) {
				reflect.Copy(out, src)
			} else if n > 0 {
				s.push(frame{src: src, dst: out, kind: reflect.Slice, stars: stars})
			}
		case reflect.Array:
			dst.Set(src)
			s.push(frame{src: src, dst: dst, kind: reflect.Array, stars: stars})
		case reflect.Map:
			if src.IsNil() {
				dst.Set(src)
				return nil
			}
			k := memoKey{ptr: src.UnsafePointer(), typ: t}
			if done, ok := s.memo[k]; ok {
				dst.Set(done)
				return nil
			}
			out := reflect.MakeMapWithSize(t, src.Len())
			s.remember(k, out)
			dst.Set(out)
			s.push(frame{src: src, dst: out, kind: reflect.Map, stars: stars, m: &mapFrame{iter: src.MapRange()}})
		case reflect.Struct:
			if reason := s.c.hidden(t); reason != "" {
				return &Error{Path: s.path(stars), Type: t, Reason: reason}
			}
			dst.Set(src) // unexported fields travel shallowly, as in copyRec
			s.push(frame{src: src, dst: dst, kind: reflect.Struct, stars: stars})
		default:
			dst.Set(src)
		}
		return nil
	}
}

// maxPathSteps bounds how many steps an error's path names: the first and
// the last half of them, with the count of those between.
const maxPathSteps = 64

// path locates, for an error, the value visit was given: the path from the
// value walk was given through s.steps and the frames, then stars pointers.
func (s *state) path(stars int32) string {
	const half = maxPathSteps / 2
	total := len(s.stack)
	for i := range s.steps {
		total += s.steps[i].n
	}
	var b strings.Builder
	at := 0
	write := func(stars int32, name string, n int) {
		for n > 0 {
			if total > maxPathSteps && at >= half && at < total-half {
				if at == half {
					fmt.Fprintf(&b, "...(%d steps)...", total-maxPathSteps)
				}
				skip := min(n, total-half-at)
				at, n = at+skip, n-skip
				continue
			}
			b.WriteString(strings.Repeat("*", int(stars)))
			b.WriteString(name)
			at, n = at+1, n-1
		}
	}
	next := 0
	dropped := func(upTo int) {
		for ; next < upTo; next++ {
			st := &s.steps[next]
			write(st.stars, stepName(st.kind, st.typ, st.i), st.n)
		}
	}
	for i := range s.stack {
		f := &s.stack[i]
		dropped(int(f.steps))
		write(f.stars, s.segment(f), 1)
	}
	dropped(len(s.steps))
	b.WriteString(strings.Repeat("*", int(stars)))
	return b.String()
}

// segment names the step from f to the part of it being copied.
func (s *state) segment(f *frame) string {
	switch f.kind {
	case reflect.Struct:
		t := f.src.Type()
		return stepName(f.kind, t, s.c.deepFields(t)[f.i-1])
	case reflect.Slice, reflect.Array:
		return stepName(f.kind, nil, f.i-1)
	case reflect.Map:
		if f.i == mapKeyDone {
			return "[key]"
		}
		return "[" + fmt.Sprint(f.m.iter.Key()) + "]"
	}
	return "" // an interface adds nothing to the path
}

// stepName names a step into field i of struct type t, or into element i.
func stepName(k reflect.Kind, t reflect.Type, i int) string {
	if k == reflect.Struct {
		return "." + t.Field(i).Name
	}
	return "[" + strconv.Itoa(i) + "]"
}
