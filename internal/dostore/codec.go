package dostore

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Values are stored as CBOR (RFC 8949) with a hint naming their Go type, so
// that a value read back into an interface (any) has the type it was stored
// with when that type is known to this process: the predeclared types and
// the common slices and maps always, and any type this process has stored.
// A value of an unknown type comes back as CBOR's generic form
// (map[string]any, []any, int64/uint64, ...). Reading into a concrete type
// always decodes into that type.

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Time:    cbor.TimeRFC3339Nano,
		TimeTag: cbor.EncTagRequired,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  512,
		MaxArrayElements: 2147483647,
		MaxMapPairs:      2147483647,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		UTF8:             cbor.UTF8DecodeInvalid,
		IntDec:           cbor.IntDecConvertSignedOrBigInt,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	for _, v := range []any{
		false, "", int(0), int8(0), int16(0), int32(0), int64(0),
		uint(0), uint8(0), uint16(0), uint32(0), uint64(0), float32(0), float64(0),
		[]byte(nil), []string(nil), []int(nil), []int64(nil), []float64(nil), []any(nil),
		map[string]any(nil), map[string]string(nil), map[string]int(nil),
		time.Time{}, time.Duration(0),
	} {
		remember(reflect.TypeOf(v))
	}
}

var known sync.Map // hint -> reflect.Type

// remember records t so that values of type t decode into t, and returns
// its hint.
func remember(t reflect.Type) string {
	h := hintOf(t)
	if _, ok := known.Load(h); !ok {
		known.Store(h, t)
	}
	return h
}

// hintOf names t exactly: named types by package path, so that two
// packages' types of the same name are told apart.
func hintOf(t reflect.Type) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name()
		}
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + hintOf(t.Elem())
	case reflect.Slice:
		return "[]" + hintOf(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), hintOf(t.Elem()))
	case reflect.Map:
		return "map[" + hintOf(t.Key()) + "]" + hintOf(t.Elem())
	}
	return t.String()
}

// Encode encodes v and returns its hint.
func Encode(v any) ([]byte, string, error) {
	if v == nil {
		b, err := encMode.Marshal(nil)
		return b, "", err
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return b, remember(reflect.TypeOf(v)), nil
}

// Decode decodes data into a new value of type t. An interface type decodes
// by the hint when its type is known and fits t, else generically.
func Decode(data []byte, hint string, t reflect.Type) (reflect.Value, error) {
	if t.Kind() == reflect.Interface && hint != "" {
		if kt, ok := known.Load(hint); ok && kt.(reflect.Type).Implements(t) {
			p := reflect.New(kt.(reflect.Type))
			if err := decMode.Unmarshal(data, p.Interface()); err != nil {
				return reflect.Value{}, err
			}
			out := reflect.New(t).Elem()
			out.Set(p.Elem())
			return out, nil
		}
	}
	p := reflect.New(t)
	if err := decMode.Unmarshal(data, p.Interface()); err != nil {
		return reflect.Value{}, err
	}
	return p.Elem(), nil
}
