package clone

import (
	"fmt"
	"math"
	"reflect"
)

// Convert makes arg a value of type to: assignable values pass unchanged,
// numbers convert between Go numeric types only when the value is exactly
// representable, and nil only where to is nilable. The error says what was
// wanted and what was given; the caller adds which argument it was.
func Convert(arg any, to reflect.Type) (reflect.Value, error) {
	if arg == nil {
		if Nilable(to) {
			return reflect.Zero(to), nil
		}
		return reflect.Value{}, fmt.Errorf("cannot use nil as %s", to)
	}
	v := reflect.ValueOf(arg)
	if v.Type() == to || v.Type().AssignableTo(to) {
		return v, nil
	}
	if isNumber(v.Kind()) && isNumber(to.Kind()) {
		out, ok := convertNumber(v, to)
		if !ok {
			return reflect.Value{}, fmt.Errorf("cannot use %v (%s) as %s: not exactly representable", arg, v.Type(), to)
		}
		return out, nil
	}
	return reflect.Value{}, fmt.Errorf("cannot use %s as %s", v.Type(), to)
}

// Nilable reports whether nil is a value of type t.
func Nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return true
	}
	return false
}

// IsNumber reports whether k is an integer or floating-point kind.
func IsNumber(k reflect.Kind) bool { return isNumber(k) }

func isNumber(k reflect.Kind) bool {
	return isInt(k) || isUint(k) || isFloat(k)
}

func isInt(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uintptr
}

func isFloat(k reflect.Kind) bool {
	return k == reflect.Float32 || k == reflect.Float64
}

// convertNumber converts v to type to when the value survives the trip
// unchanged: 21 -> int64 yes, 1.5 -> int no, 300 -> int8 no.
func convertNumber(v reflect.Value, to reflect.Type) (reflect.Value, bool) {
	out := reflect.New(to).Elem()
	switch k := v.Kind(); {
	case isInt(k):
		i := v.Int()
		switch {
		case isInt(to.Kind()):
			if out.OverflowInt(i) {
				return out, false
			}
			out.SetInt(i)
		case isUint(to.Kind()):
			if i < 0 || out.OverflowUint(uint64(i)) {
				return out, false
			}
			out.SetUint(uint64(i))
		default:
			f := float64(i)
			if f >= 0x1p63 || int64(f) != i || (to.Kind() == reflect.Float32 && float64(float32(f)) != f) {
				return out, false
			}
			out.SetFloat(f)
		}
	case isUint(k):
		u := v.Uint()
		switch {
		case isInt(to.Kind()):
			if u > math.MaxInt64 || out.OverflowInt(int64(u)) {
				return out, false
			}
			out.SetInt(int64(u))
		case isUint(to.Kind()):
			if out.OverflowUint(u) {
				return out, false
			}
			out.SetUint(u)
		default:
			f := float64(u)
			if f >= 0x1p64 || uint64(f) != u || (to.Kind() == reflect.Float32 && float64(float32(f)) != f) {
				return out, false
			}
			out.SetFloat(f)
		}
	default:
		f := v.Float()
		switch {
		case isFloat(to.Kind()):
			if to.Kind() == reflect.Float32 && !math.IsNaN(f) && float64(float32(f)) != f {
				return out, false
			}
			out.SetFloat(f)
		case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f):
			return out, false
		case isInt(to.Kind()):
			if f < -0x1p63 || f >= 0x1p63 || out.OverflowInt(int64(f)) {
				return out, false
			}
			out.SetInt(int64(f))
		default:
			if f < 0 || f >= 0x1p64 || out.OverflowUint(uint64(f)) {
				return out, false
			}
			out.SetUint(uint64(f))
		}
	}
	return out, true
}
