package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/seed-29c11ff2/workers"
)

var (
	stubType    = reflect.TypeFor[*workers.Stub]()
	bindingType = reflect.TypeFor[*workers.Binding]()
	errorType   = reflect.TypeFor[error]()
)

// byRef reports whether values of t cross a session by reference.
func byRef(t reflect.Type) bool {
	return t == stubType || t == bindingType || t.Kind() == reflect.Func || hooks().IsTarget(t)
}

// refPlan says whether a type's values may hold references: refNone
// (never), refHere (it is one), refInside (look inside).
type refPlan uint8

const (
	refNone refPlan = iota
	refHere
	refInside
)

var refPlans sync.Map // reflect.Type -> refPlan

func planOf(t reflect.Type) refPlan {
	if p, ok := refPlans.Load(t); ok {
		return p.(refPlan)
	}
	p := computePlan(t, map[reflect.Type]bool{})
	refPlans.Store(t, p)
	return p
}

func computePlan(t reflect.Type, seen map[reflect.Type]bool) refPlan {
	if byRef(t) {
		return refHere
	}
	if marshals(t) {
		return refNone
	}
	if seen[t] {
		return refInside // recursive: look
	}
	seen[t] = true
	defer delete(seen, t)
	inside := func(e reflect.Type) refPlan {
		if computePlan(e, seen) != refNone {
			return refInside
		}
		return refNone
	}
	switch t.Kind() {
	case reflect.Interface:
		return refInside
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return inside(t.Elem())
	case reflect.Map:
		return inside(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); encoded(f) && inside(f.Type) == refInside {
				return refInside
			}
		}
	}
	return refNone
}

// An encoder encodes the values of one frame for a session, exporting the
// references it finds.
type encoder struct {
	s      *session
	ctx    context.Context
	reg    any         // the registry that exports RpcTargets; nil: ctx's
	made   []uint64    // exports made, undone if the frame is not sent
	keep   []io.Closer // references held until the frame is sent
	nested bool        // a reference was found inside a value
}

// call encodes a call's arguments (Args, and Types where a value needs its
// type named) and props into f, within [MaxMessageBytes]. On failure the
// exports it made are undone.
func (e *encoder) call(f *frame, args []any, props any, where string) error {
	size := 0
	if n := len(args); n > 0 {
		f.Args = make([]cbor.RawMessage, n)
		for i, a := range args {
			data, err := e.value(a)
			if err != nil {
				e.sent(false)
				return argError(where, i, err)
			}
			f.Args[i] = data
			size += len(data)
			if h := hintOf(a); h != "" {
				if f.Types == nil {
					f.Types = make([]string, n)
				}
				f.Types[i] = h
			}
		}
	}
	if props != nil {
		data, err := encode(props)
		if err != nil {
			e.sent(false)
			return errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: props: %v", where, err)
		}
		f.Props = data
		size += len(data)
	}
	if size > MaxMessageBytes {
		e.sent(false)
		return sizeError(where+": arguments", size)
	}
	f.Nested = e.nested
	return nil
}

// value encodes v: a reference as a mark, anything else as CBOR with the
// references inside it (in values of interface type) as marks.
func (e *encoder) value(v any) ([]byte, error) {
	if v == nil {
		return []byte{0xf6}, nil
	}
	rv := reflect.ValueOf(v)
	switch planOf(rv.Type()) {
	case refHere:
		m, err := e.export(rv)
		if err != nil {
			return nil, err
		}
		return m.MarshalCBOR()
	case refInside:
		sub, changed, err := e.subst(rv, "", 0)
		if err != nil {
			return nil, err
		}
		if changed {
			e.nested = true
			v = sub.Interface()
		}
	}
	return encode(v)
}

// refError says where a reference cannot cross.
func refError(path string, t reflect.Type) error {
	at := "value"
	if path != "" {
		at = path
	}
	return fmt.Errorf("%s: a %s crosses to another process by reference only as an argument or result itself, or in a field, element or map value of type any", at, t)
}

// subst returns v with every reference in an interface value replaced by
// its mark, copying what it changes and sharing the rest; changed is false
// when v holds none.
func (e *encoder) subst(v reflect.Value, path string, depth int) (reflect.Value, bool, error) {
	t := v.Type()
	if depth > maxNesting {
		return v, false, &crossError{path: path, typ: t, why: fmt.Sprintf(" (nested more than %d deep, or cyclic)", maxNesting)}
	}
	switch planOf(t) {
	case refNone:
		return v, false, nil
	case refHere:
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Func) && v.IsNil() {
			return v, false, nil
		}
		return v, false, refError(path, t)
	}
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return v, false, nil
		}
		inner := v.Elem()
		if planOf(inner.Type()) == refHere {
			if k := inner.Kind(); (k == reflect.Pointer || k == reflect.Func) && inner.IsNil() {
				return v, false, nil
			}
			m, err := e.export(inner)
			if err != nil {
				return v, false, fmt.Errorf("%s: %w", pathOr(path), err)
			}
			mv := reflect.ValueOf(m)
			if !mv.Type().Implements(t) {
				return v, false, fmt.Errorf("%s: a %s crosses to another process as a *workers.Stub: declare it as any, not %s", pathOr(path), inner.Type(), t)
			}
			out := reflect.New(t).Elem()
			out.Set(mv)
			return out, true, nil
		}
		sub, changed, err := e.subst(inner, path, depth)
		if err != nil || !changed {
			return v, false, err
		}
		out := reflect.New(t).Elem()
		out.Set(sub)
		return out, true, nil
	case reflect.Pointer:
		if v.IsNil() {
			return v, false, nil
		}
		sub, changed, err := e.subst(v.Elem(), path, depth)
		if err != nil || !changed {
			return v, false, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(sub)
		return p, true, nil
	case reflect.Slice, reflect.Array:
		var out reflect.Value
		for i := range v.Len() {
			sub, changed, err := e.subst(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return v, false, err
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				if t.Kind() == reflect.Slice {
					out = reflect.MakeSlice(t, v.Len(), v.Len())
				} else {
					out = reflect.New(t).Elem()
				}
				reflect.Copy(out, v)
			}
			out.Index(i).Set(sub)
		}
		if !out.IsValid() {
			return v, false, nil
		}
		return out, true, nil
	case reflect.Map:
		if v.IsNil() {
			return v, false, nil
		}
		var out reflect.Value
		it := v.MapRange()
		for it.Next() {
			sub, changed, err := e.subst(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), depth+1)
			if err != nil {
				return v, false, err
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.MakeMapWithSize(t, v.Len())
				all := v.MapRange()
				for all.Next() {
					out.SetMapIndex(all.Key(), all.Value())
				}
			}
			out.SetMapIndex(it.Key(), sub)
		}
		if !out.IsValid() {
			return v, false, nil
		}
		return out, true, nil
	case reflect.Struct:
		var out reflect.Value
		for i := range t.NumField() {
			f := t.Field(i)
			if !encoded(f) {
				continue
			}
			sub, changed, err := e.subst(v.Field(i), path+"."+f.Name, depth+1)
			if err != nil {
				return v, false, err
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.New(t).Elem()
				out.Set(v)
			}
			out.Field(i).Set(sub)
		}
		if !out.IsValid() {
			return v, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

func pathOr(path string) string {
	if path == "" {
		return "value"
	}
	return path[min(1, len(path)):]
}

// export makes v, a reference, the peer's: an export of this session, or,
// for a stub of the peer's own object, the id it has there.
func (e *encoder) export(v reflect.Value) (refMark, error) {
	if v.Kind() == reflect.Func {
		if v.IsNil() {
			return refMark{}, errors.New("a nil func cannot cross")
		}
		id, err := e.s.addExport(&export{kind: refFunc, fn: v})
		if err != nil {
			return refMark{}, err
		}
		e.made = append(e.made, id)
		return refMark{Kind: refFunc, ID: id}, nil
	}
	switch x := v.Interface().(type) {
	case *workers.Binding:
		if x == nil {
			return refMark{}, errors.New("a nil *workers.Binding cannot cross")
		}
		var via *workers.Stub
		if v, ok := hooks().ViaOf(x).(*workers.Stub); ok {
			// A binding of a peer's: its reference goes on, as a stub's.
			d, err := hooks().Export(e.ctx, nil, v)
			if err != nil {
				return refMark{}, err
			}
			via = d.(*workers.Stub)
			if imp, ok := hooks().TargetOf(v).(*importTarget); ok && imp.s == e.s {
				// Back where it came from: the peer's own binding.
				e.keep = append(e.keep, via)
				return refMark{Kind: refYours | imp.kind, ID: imp.id}, nil
			}
			x = hooks().BindingVia(via)
		}
		id, err := e.s.addExport(&export{kind: refBinding, binding: x, stub: via})
		if err != nil {
			if via != nil {
				via.Close()
			}
			return refMark{}, err
		}
		e.made = append(e.made, id)
		return refMark{Kind: refBinding, ID: id}, nil
	case *workers.Stub:
		if imp, ok := hooks().TargetOf(x).(*importTarget); ok && imp.s == e.s {
			// Back where it came from: the peer's own object. The Dup keeps
			// the peer's export until this frame is on its way.
			d, err := hooks().Export(e.ctx, nil, x)
			if err != nil {
				return refMark{}, err
			}
			e.keep = append(e.keep, d.(*workers.Stub))
			return refMark{Kind: refYours | imp.kind, ID: imp.id}, nil
		}
	}
	ref, err := hooks().Export(e.ctx, e.reg, v.Interface())
	if err != nil {
		return refMark{}, err
	}
	st := ref.(*workers.Stub)
	id, err := e.s.addExport(&export{kind: refTarget, stub: st})
	if err != nil {
		st.Close()
		return refMark{}, err
	}
	e.made = append(e.made, id)
	return refMark{Kind: refTarget, ID: id}, nil
}

// sent is called once the frame is sent (ok) or was not (the exports it
// made are undone).
func (e *encoder) sent(ok bool) {
	if !ok {
		for _, id := range e.made {
			e.s.dropExport(id)
		}
		e.done()
	}
	e.made = nil
}

// done releases the references the frame kept alive: once the peer has
// decoded it (a call has returned; a return was decoded by the peer's
// reader before anything it sends later).
func (e *encoder) done() {
	for _, c := range e.keep {
		c.Close()
	}
	e.keep = nil
}

// A decoder decodes the values of one frame, making the references in it
// this side's. got holds the references it made; whoever decodes releases
// them when they are no longer the frame's (see session).
type decoder struct {
	s   *session
	ctx context.Context // what a callback without a context parameter calls with
	reg any             // the registry that calls on the imports export RpcTargets through
	got []*workers.Stub
	// budget bounds what the frame's values may take decoded, as a unary
	// call's are bounded (see budget.go); nil for no bound.
	budget *sizer
}

// bound makes the decoder hold the values of a frame of n serialized
// bytes to their budget.
func (d *decoder) bound(n int) { d.budget = &sizer{size: n, limit: decodeBudget(n)} }

// value decodes raw into a value of type t (an interface type by the hint),
// turning references into stubs or funcs. nested says that references may
// be inside.
func (d *decoder) value(raw []byte, t reflect.Type, hint string, nested bool) (reflect.Value, error) {
	if isRef(raw) {
		var m refMark
		if err := sessionDec.Unmarshal(raw, &m); err != nil {
			return reflect.Value{}, err
		}
		return d.resolve(m, t)
	}
	if t.Kind() == reflect.Interface {
		if ht := hintTypes[hint]; ht != nil && ht.Implements(t) {
			t = ht
		}
	}
	if b := d.budget; b != nil && !scalar(raw) {
		b.data = raw
		err := b.add(decoderCost + alloc(int64(t.Size())))
		if err == nil {
			_, err = b.walk(0, t, 0)
		}
		if errors.Is(err, errBudget) {
			return reflect.Value{}, b.overError()
		}
		if err != nil {
			return reflect.Value{}, err
		}
	}
	p := reflect.New(t)
	if err := sessionDec.Unmarshal(raw, p.Interface()); err != nil {
		return reflect.Value{}, err
	}
	v := p.Elem()
	if nested {
		if err := d.fix(v, 0); err != nil {
			return reflect.Value{}, err
		}
	}
	return v, nil
}

// props decodes the props of the call f, nil when it has none, within a
// budget that counts its arguments too (d.bound).
func (d *decoder) props(f *frame, where string) (any, error) {
	if len(f.Props) == 0 || isNull(f.Props) {
		return nil, nil
	}
	n := len(f.Props)
	for _, a := range f.Args {
		n += len(a)
	}
	d.bound(n)
	props, err := decodeWithin(d.budget, f.Props, anyType, "")
	if err != nil {
		if errors.Is(err, errBudget) {
			err = d.budget.overError()
		}
		return nil, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: props: %v", where, err)
	}
	return props, nil
}

// fix replaces the marks in v's interface values with references.
func (d *decoder) fix(v reflect.Value, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("nested more than %d deep", maxNesting)
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		inner := v.Elem()
		if m, ok := inner.Interface().(refMark); ok {
			r, err := d.resolve(m, v.Type())
			if err != nil {
				return err
			}
			if v.CanSet() {
				v.Set(r)
			}
			return nil
		}
		switch inner.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			return d.fix(inner, depth+1)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return d.fix(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if planOf(v.Type().Elem()) == refNone {
			return nil
		}
		for i := range v.Len() {
			if err := d.fix(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if planOf(v.Type().Elem()) == refNone {
			return nil
		}
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			if err := d.fix(e, depth+1); err != nil {
				return err
			}
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		if planOf(v.Type()) == refNone {
			return nil
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); encoded(f) {
				if err := d.fix(v.Field(i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resolve makes the reference m a value of type t.
func (d *decoder) resolve(m refMark, t reflect.Type) (reflect.Value, error) {
	var ref any
	if m.Kind&refYours != 0 {
		x, err := d.s.ownExport(m.ID)
		if err != nil {
			return reflect.Value{}, err
		}
		if st, ok := x.(*workers.Stub); ok {
			st = st.Dup()
			d.got = append(d.got, st)
			x = st
		}
		ref = x
	} else {
		st, err := d.s.addImport(m, d.reg)
		if err != nil {
			return reflect.Value{}, err
		}
		d.got = append(d.got, st)
		ref = st
	}
	rv := reflect.ValueOf(ref)
	switch {
	case t.Kind() == reflect.Func:
		if rv.Type() == t {
			return rv, nil
		}
		st, ok := ref.(*workers.Stub)
		if !ok {
			return reflect.Value{}, fmt.Errorf("a %s cannot be received as a %s", rv.Type(), t)
		}
		imp, _ := hooks().TargetOf(st).(*importTarget)
		if imp == nil {
			return reflect.Value{}, fmt.Errorf("a %s cannot be received as a %s", rv.Type(), t)
		}
		return d.callback(t, imp)
	case m.Kind == refBinding && bindingType.AssignableTo(t):
		// A peer's binding is a binding here too (declared *Binding,
		// Caller or any, as in-process), calling through the stub.
		out := reflect.New(t).Elem()
		out.Set(reflect.ValueOf(hooks().BindingVia(ref)))
		return out, nil
	case rv.Type().AssignableTo(t):
		out := reflect.New(t).Elem()
		out.Set(rv)
		return out, nil
	case t == bindingType:
		return reflect.Value{}, fmt.Errorf("a %s from another process cannot be received as a *workers.Binding: declare *workers.Stub (or any, or workers.Caller)", describeRef(m.Kind))
	case hooks().IsTarget(t):
		return reflect.Value{}, fmt.Errorf("an RpcTarget crosses by reference as a *workers.Stub: declare it as *workers.Stub (or any, or workers.Caller), not %s", t)
	}
	return reflect.Value{}, fmt.Errorf("a reference (%s) cannot be received as a %s: declare *workers.Stub (or any, or workers.Caller)", rv.Type(), t)
}

func describeRef(kind uint8) string {
	switch kind &^ refYours {
	case refFunc:
		return "func"
	case refBinding:
		return "binding"
	}
	return "RpcTarget"
}

// callback makes a func of type t that calls the peer's func imp. Without
// an error result, a failed call panics with its error, which the runtime
// turns into the error of the call that runs it.
func (d *decoder) callback(t reflect.Type, imp *importTarget) (reflect.Value, error) {
	in := 0
	if t.NumIn() > 0 && t.In(0) == contextType {
		in = 1
	}
	var result reflect.Type
	hasErr := false
	switch n := t.NumOut(); {
	case n == 0:
	case n == 1 && t.Out(0) == errorType:
		hasErr = true
	case n == 1:
		result = t.Out(0)
	case n == 2 && t.Out(1) == errorType:
		result, hasErr = t.Out(0), true
	default:
		return reflect.Value{}, fmt.Errorf("a callback of type %s returns more than a value and an error", t)
	}
	base := d.ctx
	return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		ctx := base
		if in == 1 && !args[0].IsNil() {
			ctx = args[0].Interface().(context.Context)
		}
		vals := make([]any, 0, len(args)-in)
		for _, a := range args[in:] {
			if t.IsVariadic() && len(vals) == t.NumIn()-1-in {
				for i := range a.Len() {
					vals = append(vals, a.Index(i).Interface())
				}
				continue
			}
			vals = append(vals, a.Interface())
		}
		res, err := imp.call(ctx, "", vals, result)
		out := make([]reflect.Value, t.NumOut())
		if result != nil {
			out[0] = reflect.New(result).Elem()
			if err == nil && res != nil {
				rv := reflect.ValueOf(res)
				if rv.Type().AssignableTo(result) {
					out[0].Set(rv)
				} else if rv.Type().ConvertibleTo(result) {
					out[0].Set(rv.Convert(result))
				} else {
					err = fmt.Errorf("%w: %s: result: a %s is not a %s", workers.ErrInvalidResult, imp.Describe(), rv.Type(), result)
				}
			}
		}
		if hasErr {
			e := reflect.New(errorType).Elem()
			if err != nil {
				e.Set(reflect.ValueOf(err))
			}
			out[len(out)-1] = e
		} else if err != nil {
			panic(err)
		}
		return out
	}), nil
}

// release releases the references the decoder made.
func (d *decoder) release() {
	for _, st := range d.got {
		st.Close()
	}
	d.got = nil
}
