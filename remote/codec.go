package remote

import (
	"bytes"
	"context"
	"encoding"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seed-29c11ff2/workers"
)

// Codec is the [connect.Codec] of the wire: CBOR (RFC 8949), by
// github.com/fxamacker/cbor/v2, under the name "cbor" (content type
// application/cbor, or application/grpc+cbor over gRPC). It encodes any Go
// value, so messages are plain structs. Pass it to connect.WithCodec to
// call a served registry with a connect client of your own.
type Codec struct{}

// Name returns "cbor".
func (Codec) Name() string { return "cbor" }

// Marshal encodes v as CBOR.
func (Codec) Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// MarshalAppend encodes v as CBOR after dst, so connect can reuse its
// buffers.
func (Codec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	if err := encMode.MarshalToBuffer(v, buf); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes CBOR data into v, refusing malformed data and extra
// bytes after the value. A [CallRequest] may hold at most 65,536 arguments
// (and as many types) and 1,024 metadata pairs: what a message holds beyond
// is refused before it is decoded, so that a small message cannot make
// millions of values.
func (Codec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *CallRequest:
		return unmarshalCall(data, m)
	case *sessionBatch:
		return unmarshalBatch(data, m)
	}
	return decMode.Unmarshal(data, v)
}

// callShape is what is looked at in a call's message before it is
// decoded: how many arguments, types and metadata pairs it holds, counted
// in place.
type callShape struct {
	Args     countOf `cbor:"args"`
	Types    countOf `cbor:"types"`
	Metadata countOf `cbor:"metadata"`
}

// countOf counts the elements of an array, or the pairs of a map, without
// decoding them; up to maxArgs, and one more when there are more.
type countOf struct{ n int }

func (c *countOf) UnmarshalCBOR(data []byte) error {
	h, err := readHead(data, 0)
	if err != nil {
		return err
	}
	n := 0
	switch {
	case h.major == 4:
		if n, err = arrayLen(data, maxArgs); err != nil {
			return err
		}
	case h.major == 5 && !h.indefinite:
		n = int(min(h.arg, maxArgs+1))
	case h.major == 5:
		s := &sizer{data: data, limit: 1<<63 - 1}
		for pos := h.size; !isBreak(data, pos) && n <= maxArgs; n++ {
			if pos, err = s.walk(pos, nil, 0); err != nil {
				return err
			}
			if pos, err = s.walk(pos, nil, 0); err != nil {
				return err
			}
		}
	}
	c.n = max(c.n, n) // a key given twice counts at its largest
	return nil
}

func unmarshalCall(data []byte, m *CallRequest) error {
	var shape callShape
	if err := decMode.Unmarshal(data, &shape); err != nil {
		return err
	}
	switch {
	case shape.Args.n > maxArgs:
		return fmt.Errorf("remote: a call may have at most %d arguments", maxArgs)
	case shape.Types.n > maxArgs:
		return fmt.Errorf("remote: a call may have at most %d argument types", maxArgs)
	case shape.Metadata.n > maxMetadataPairs:
		return fmt.Errorf("remote: a call may have at most %d metadata pairs", maxMetadataPairs)
	}
	return decMode.Unmarshal(data, m)
}

// IsBinary reports true: CBOR is a binary format.
func (Codec) IsBinary() bool { return true }

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		// Times keep their nanoseconds and zone, and come back as time.Time
		// when decoded into an interface.
		Time:    cbor.TimeRFC3339Nano,
		TimeTag: cbor.EncTagRequired,
	}.UserBufferEncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		// Lengths are bounded by the data itself (a message is at most
		// MaxMessageBytes and is checked to be well formed before decoding),
		// so only nesting needs a limit of its own.
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: 2147483647,
		MaxMapPairs:      2147483647,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		// Go strings may hold any bytes.
		UTF8:   cbor.UTF8DecodeInvalid,
		IntDec: cbor.IntDecConvertSignedOrBigInt,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// maxNesting bounds how deeply values may nest (and so a cyclic value).
const maxNesting = 512

// Predeclared types travel with their names, so that a value received into
// an interface (a parameter of type any, or Binding.Call's result) has the
// Go type it was sent with, as in-process, rather than CBOR's generic one.
var (
	hintTypes = func() map[string]reflect.Type {
		m := map[string]reflect.Type{}
		for _, v := range []any{
			false, "", int(0), int8(0), int16(0), int32(0), int64(0),
			uint(0), uint8(0), uint16(0), uint32(0), uint64(0), float32(0), float64(0),
			[]byte(nil), []string(nil), []int(nil), []int64(nil), []float64(nil), []any(nil),
			map[string]any(nil), map[string]string(nil), map[string]int(nil),
			time.Time{}, time.Duration(0),
		} {
			t := reflect.TypeOf(v)
			m[t.String()] = t
		}
		return m
	}()
	hintNames = func() map[reflect.Type]string {
		m := make(map[reflect.Type]string, len(hintTypes))
		for n, t := range hintTypes {
			m[t] = n
		}
		return m
	}()
)

func hintOf(v any) string {
	if v == nil {
		return ""
	}
	return hintNames[reflect.TypeOf(v)]
}

// decodeInto decodes raw into a new value of type t (an interface type
// decodes by the hint, else generically) and returns it.
func decodeInto(raw []byte, t reflect.Type, hint string) (reflect.Value, error) {
	if t.Kind() == reflect.Interface {
		if ht := hintTypes[hint]; ht != nil && ht.Implements(t) {
			t = ht
		}
	}
	v := reflect.New(t)
	if err := decMode.Unmarshal(raw, v.Interface()); err != nil {
		return reflect.Value{}, err
	}
	return v.Elem(), nil
}

// decodeAny decodes raw with its hint into a plain Go value.
func decodeAny(raw []byte, hint string) (any, error) {
	v, err := decodeInto(raw, reflect.TypeFor[any](), hint)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// isNull reports whether raw is CBOR null or undefined.
func isNull(raw []byte) bool { return len(raw) == 1 && (raw[0] == 0xf6 || raw[0] == 0xf7) }

// Values that do not cross a process boundary. CBOR would refuse funcs and
// channels anyway; Bindings, contexts and the runtime's own objects it would
// silently send as empty maps, so they are refused here first.
var (
	refusedTypes = map[reflect.Type]bool{
		reflect.TypeFor[workers.Binding]():  true,
		reflect.TypeFor[workers.Registry](): true,
		reflect.TypeFor[workers.Env]():      true,
		reflect.TypeFor[workers.Ctx]():      true,
	}
	contextType = reflect.TypeFor[context.Context]()
)

type verdict uint8

const (
	plain  verdict = iota // crosses as it is
	walk                  // may hold something that cannot cross, or a cycle: look at the value
	refuse                // its type cannot cross
)

var verdicts sync.Map // reflect.Type -> verdict

func verdictOf(t reflect.Type) verdict {
	if v, ok := verdicts.Load(t); ok {
		return v.(verdict)
	}
	// Only the outermost answer is cached: inner ones may have assumed an
	// enclosing type plain while it was still being looked at.
	v := classify(t, map[reflect.Type]bool{})
	verdicts.Store(t, v)
	return v
}

func classify(t reflect.Type, seen map[reflect.Type]bool) verdict {
	if refused(t) {
		return refuse
	}
	if marshals(t) {
		return plain // it says itself how it is encoded
	}
	if seen[t] {
		return walk // a recursive type: its values may be cyclic
	}
	seen[t] = true
	defer delete(seen, t)
	switch t.Kind() {
	case reflect.Interface:
		return walk
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return min(walk, classify(t.Elem(), seen)) // a refused element may be absent: look
	case reflect.Map:
		return min(walk, max(classify(t.Key(), seen), classify(t.Elem(), seen)))
	case reflect.Struct:
		v := plain
		for i := range t.NumField() {
			if f := t.Field(i); encoded(f) {
				v = max(v, classify(f.Type, seen))
			}
		}
		return v
	}
	return plain
}

// refused reports whether values of type t cannot cross at all.
func refused(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Interface:
		return false
	}
	return refusedTypes[t] || t.Implements(contextType) || t == stubType || hooks().IsTarget(t)
}

var (
	cborMarshaler   = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
)

// marshals reports whether CBOR encodes values of type t with their own
// method.
func marshals(t reflect.Type) bool {
	return t.Kind() != reflect.Interface && (t.Implements(cborMarshaler) || t.Implements(binaryMarshaler))
}

// encoded reports whether CBOR encodes the struct field f.
func encoded(f reflect.StructField) bool {
	tag := f.Tag.Get("cbor")
	return f.IsExported() && tag != "-" && (tag != "" || f.Tag.Get("json") != "-")
}

// crossable reports the first part of v that cannot be sent to another
// process, naming where it is inside v.
func crossable(v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if verdictOf(rv.Type()) == plain {
		return nil
	}
	return check(rv, "", 0)
}

// crossError says what cannot cross, and where.
type crossError struct {
	path string
	typ  reflect.Type
	why  string
}

func (e *crossError) Error() string {
	at := ""
	if e.path != "" {
		at = e.path + ": "
	}
	return fmt.Sprintf("%sa value of type %s cannot be sent to a remote worker%s", at, e.typ, e.why)
}

func check(v reflect.Value, path string, depth int) error {
	t := v.Type()
	if depth > maxNesting {
		return &crossError{path: path, typ: t, why: fmt.Sprintf(" (nested more than %d deep, or cyclic)", maxNesting)}
	}
	if byRef(t) && (t.Kind() != reflect.Pointer || !v.IsNil()) {
		return &crossError{path: path, typ: t, why: " as a value: it crosses by reference, which needs a session (HTTP/2, with the connect, gRPC or gRPC-Web protocol)"}
	}
	if refused(t) || (t.Kind() == reflect.Pointer && refusedTypes[t.Elem()] && !v.IsNil()) {
		why := ""
		if k := t.Kind(); k != reflect.Complex64 && k != reflect.Complex128 && k != reflect.UnsafePointer {
			why = " (funcs, channels, Bindings and contexts cross only within a process)"
		}
		return &crossError{path: path, typ: t, why: why}
	}
	if verdictOf(t) == plain {
		return nil
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		// Not a level of CBOR nesting; a cycle passes through a container.
		if v.IsNil() {
			return nil
		}
		return check(v.Elem(), path, depth)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := check(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := check(it.Key(), path+"[key]", depth+1); err != nil {
				return err
			}
			if err := check(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); encoded(f) {
				if err := check(v.Field(i), path+"."+f.Name, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
