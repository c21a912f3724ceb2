package remote

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// A call's message is read whole (at most MaxMessageBytes), but what its
// values take once decoded is not bounded by their size alone: a CBOR null
// is one byte, an element of a []any 16, an element of a []BigStruct
// whatever that struct takes. So the serving side decodes nothing but the
// names of a call before it is authorized, and then each argument only
// after it has reckoned, from the CBOR and the parameter's type, what
// decoding it would allocate.
const (
	// maxArgs bounds the arguments of one call, as JavaScript engines bound
	// those of a function call.
	maxArgs = 1 << 16
	// maxMetadataPairs bounds a call's metadata, a handful of trace headers.
	maxMetadataPairs = 1 << 10
	// decodeFactor and decodeSlack bound what a call's arguments and props
	// may take once decoded: decodeFactor times their serialized size, plus
	// decodeSlack. Values decoded into concrete types rarely take more than
	// decodeFactor times their size; JSON-like ones decoded into an
	// interface take up to 40 times (a list of small maps), which the slack
	// admits up to a few MiB of them; a vast array of nulls into an
	// interface (16 times) is refused.
	decodeFactor = 8
	decodeSlack  = 64 << 20
)

// decodeBudget is what values of n serialized bytes may take decoded.
func decodeBudget(n int) int64 { return int64(n)*decodeFactor + decodeSlack }

// errBudget is the error of a value that would take more than its budget.
var errBudget = errors.New("over budget")

// cborHead is the head of a CBOR data item: its major type, its argument
// (a count, a length or a value), whether its length is indefinite, and
// the head's size in bytes.
type cborHead struct {
	major      byte
	ai         byte // the additional information: how arg is encoded
	arg        uint64
	indefinite bool
	size       int
}

var errTruncated = errors.New("cbor: truncated data item")

// readHead reads the head at data[pos:].
func readHead(data []byte, pos int) (cborHead, error) {
	if pos >= len(data) {
		return cborHead{}, errTruncated
	}
	b := data[pos]
	ai := b & 0x1f
	h := cborHead{major: b >> 5, ai: ai, size: 1}
	switch {
	case ai < 24:
		h.arg = uint64(ai)
		return h, nil
	case ai == 31:
		h.indefinite = true
		return h, nil
	case ai > 27:
		return h, fmt.Errorf("cbor: invalid additional information %d", ai)
	}
	n := 1 << (ai - 24) // 1, 2, 4 or 8 bytes
	if len(data)-pos-1 < n {
		return h, errTruncated
	}
	for _, c := range data[pos+1 : pos+1+n] {
		h.arg = h.arg<<8 | uint64(c)
	}
	h.size = 1 + n
	return h, nil
}

const breakByte = 0xff

// isBreak reports whether data[pos] ends an indefinite-length item.
func isBreak(data []byte, pos int) bool { return pos < len(data) && data[pos] == breakByte }

// arrayLen counts the elements of the CBOR array data, up to limit: past
// it, it stops and reports limit+1. It does not look into the elements
// beyond skipping them.
func arrayLen(data []byte, limit int) (int, error) {
	h, err := readHead(data, 0)
	if err != nil {
		return 0, err
	}
	if h.major != 4 {
		return 0, fmt.Errorf("cbor: not an array (major type %d)", h.major)
	}
	if !h.indefinite {
		return int(min(h.arg, uint64(limit)+1)), nil
	}
	s := &sizer{data: data, limit: math.MaxInt64}
	pos, n := h.size, 0
	for !isBreak(data, pos) {
		if n > limit {
			return n, nil
		}
		if pos, err = s.walk(pos, nil, 0); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// splitArray returns the elements of the CBOR array data, sharing its
// bytes.
func splitArray(data []byte) ([]cbor.RawMessage, error) {
	n, err := arrayLen(data, maxArgs)
	if err != nil {
		return nil, err
	}
	h, _ := readHead(data, 0)
	out := make([]cbor.RawMessage, 0, n)
	s := &sizer{data: data, limit: math.MaxInt64}
	pos := h.size
	for i := 0; i < n; i++ {
		end, err := s.walk(pos, nil, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, data[pos:end:end])
		pos = end
	}
	return out, nil
}

// sizer reckons what decoding CBOR data into Go types allocates, from
// above: it follows the data as the decoder would, adding for each item
// what the decoder makes for it in the type it goes to, and fails with
// errBudget as soon as total would pass limit. Items the type cannot hold
// (the decoder fails on them) and fields it does not have (the decoder
// skips them) count nothing. data is well formed: the decoder checked it.
type sizer struct {
	data  []byte
	total int64
	limit int64
	size  int // the serialized size the limit was made for
}

// overError says that what was reckoned passed the limit.
func (s *sizer) overError() error {
	return fmt.Errorf("decoded, the arguments and props would take more than %d bytes, the limit for %d serialized bytes (%d times as many, plus %d MiB)",
		s.limit, s.size, decodeFactor, decodeSlack>>20)
}

var majorNames = [8]string{"an unsigned integer", "a negative integer", "a byte string", "a text string", "an array", "a map", "a tagged item", "a simple value or float"}

// fits reports whether an item with head h may decode into a value of
// type t at all: an array or a map only into a container (or a type that
// decodes itself), as the decoder would find after skipping the item.
func fits(h cborHead, t reflect.Type) bool {
	if h.major != 4 && h.major != 5 {
		return true // scalars: the decoder, or else the call, says
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface || opaque(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Struct:
		return true // a struct: as a map, or as an array (toarray)
	case reflect.Map:
		return h.major == 5
	}
	return false
}

// alloc is what an allocation of n bytes takes: rounded up to its size
// class, which wastes at most an eighth, and at least a word.
func alloc(n int64) int64 { return n + n/8 + 16 }

func (s *sizer) add(n int64) error {
	s.total += n
	if s.total > s.limit || n < 0 {
		return errBudget
	}
	return nil
}

// Sizes of what the generic decoder makes for an interface.
const (
	ifaceSize   = 16 // an element of a []any, a value of a map[string]any
	boxedSize   = 16 // a number boxed in an interface (8 bytes, in a 16-byte class where the tiny allocator is off)
	headerSize  = 24 // a slice header boxed in an interface
	mapBase     = 48 // a map header
	mapSlotCost = 2  // a map slot's share of its table, grown and not yet full
	mapMinSlots = 8  // the slots of the smallest map table
	opaqueCost  = 64 // a time.Time, a big.Int, a cbor.Tag: what one takes beside its bytes
	// decoderCost is what one decode takes whatever its data: the
	// decoder's own state and the value's header.
	decoderCost = 8 << 10
)

var (
	stringType        = reflect.TypeFor[string]()
	timeType          = reflect.TypeFor[time.Time]()
	bigIntType        = reflect.TypeFor[big.Int]()
	cborUnmarshaler   = reflect.TypeFor[cbor.Unmarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshaler   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether values of t decode themselves (or as the decoder
// knows them), so that what they take is reckoned from their size.
func opaque(t reflect.Type) bool {
	if t == timeType || t == bigIntType {
		return true
	}
	p := reflect.PointerTo(t)
	return p.Implements(cborUnmarshaler) || p.Implements(binaryUnmarshaler) || p.Implements(textUnmarshaler)
}

// walk reckons the item at data[pos:] decoded into a value of type t (nil:
// skipped; an empty interface: generic) and returns where it ends. The
// value's own slot is its container's.
func (s *sizer) walk(pos int, t reflect.Type, depth int) (int, error) {
	if depth > maxNesting {
		return 0, fmt.Errorf("cbor: nested more than %d deep", maxNesting)
	}
	h, err := readHead(s.data, pos)
	if err != nil {
		return 0, err
	}
	null := h.major == 7 && (h.ai == 22 || h.ai == 23)
	for t != nil && t.Kind() == reflect.Pointer && !null {
		if err := s.add(alloc(int64(t.Elem().Size()))); err != nil {
			return 0, err
		}
		t = t.Elem()
	}
	generic := t != nil && t.Kind() == reflect.Interface && t.NumMethod() == 0
	if t != nil && !generic && t.Kind() != reflect.Interface && opaque(t) {
		end, err := s.walk(pos, nil, depth)
		if err != nil {
			return 0, err
		}
		return end, s.add(int64(end-pos) + opaqueCost)
	}
	if t != nil && t.Kind() == reflect.Interface && !generic {
		t = nil // the decoder cannot fill a non-empty interface
	}
	pos += h.size
	switch h.major {
	case 0, 1: // integers
		if generic {
			n := int64(boxedSize)
			if h.major == 1 && h.arg > math.MaxInt64 {
				n = opaqueCost // a big.Int
			}
			return pos, s.add(n)
		}
		return pos, nil

	case 2, 3: // byte and text strings
		length := int64(0)
		if h.indefinite {
			for !isBreak(s.data, pos) {
				c, err := readHead(s.data, pos)
				if err != nil {
					return 0, err
				}
				if c.major != h.major || c.indefinite || c.arg > uint64(len(s.data)-pos-c.size) {
					return 0, errTruncated
				}
				length += int64(c.arg)
				pos += c.size + int(c.arg)
			}
			pos++
		} else {
			if h.arg > uint64(len(s.data)-pos) {
				return 0, errTruncated
			}
			length = int64(h.arg)
			pos += int(h.arg)
		}
		if pos > len(s.data) {
			return 0, errTruncated
		}
		switch {
		case generic:
			return pos, s.add(alloc(length) + headerSize) // and its header, boxed
		case t == nil:
			return pos, nil
		case length == 0:
			return pos, nil
		case t.Kind() == reflect.String, t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
			return pos, s.add(alloc(length))
		}
		return pos, nil

	case 4: // arrays
		var elem func(i int) reflect.Type
		var each int64 // what each element takes in its container
		switch {
		case generic:
			elem, each = func(int) reflect.Type { return t }, ifaceSize
			if err := s.add(headerSize); err != nil {
				return 0, err
			}
		case t == nil:
			elem = func(int) reflect.Type { return nil }
		case t.Kind() == reflect.Slice:
			e := t.Elem()
			elem, each = func(int) reflect.Type { return e }, int64(e.Size())
		case t.Kind() == reflect.Array:
			e, n := t.Elem(), t.Len()
			elem = func(i int) reflect.Type {
				if i < n {
					return e
				}
				return nil
			}
		case t.Kind() == reflect.Struct: // as the decoder fills a toarray struct
			fs := fieldsOf(t)
			elem = func(i int) reflect.Type {
				if i < len(fs.ordered) {
					return fs.ordered[i]
				}
				return nil
			}
		default:
			elem = func(int) reflect.Type { return nil }
		}
		each += each / 8 // the backing array's size class
		if h.indefinite {
			each *= 2 // grown by appending
		}
		if err := s.add(alloc(0)); err != nil {
			return 0, err
		}
		for i := 0; h.indefinite && !isBreak(s.data, pos) || !h.indefinite && uint64(i) < h.arg; i++ {
			if err := s.add(each); err != nil {
				return 0, err
			}
			if pos, err = s.walk(pos, elem(i), depth+1); err != nil {
				return 0, err
			}
		}
		if h.indefinite {
			pos++
		}
		return pos, nil

	case 5: // maps
		var key, val reflect.Type
		var slot int64 // a slot of its table
		var fs *structFields
		switch {
		case generic: // map[string]any
			key, val, slot = stringType, t, 16+ifaceSize+1
		case t == nil:
		case t.Kind() == reflect.Map:
			key, val = t.Key(), t.Elem()
			slot = int64(t.Key().Size()+t.Elem().Size()) + 1
		case t.Kind() == reflect.Struct:
			fs = fieldsOf(t)
		}
		each := slot * mapSlotCost
		if slot > 0 {
			// Even the smallest map has a table of mapMinSlots; a small one
			// has no more.
			if err := s.add(alloc(mapBase) + alloc(mapMinSlots*slot)); err != nil {
				return 0, err
			}
			if !h.indefinite && h.arg <= mapMinSlots {
				each = 0
			}
		}
		for i := 0; h.indefinite && !isBreak(s.data, pos) || !h.indefinite && uint64(i) < h.arg; i++ {
			if err := s.add(each); err != nil {
				return 0, err
			}
			if fs != nil {
				val = fs.lookup(s.data, pos)
			}
			if pos, err = s.walk(pos, key, depth+1); err != nil {
				return 0, err
			}
			if pos, err = s.walk(pos, val, depth+1); err != nil {
				return 0, err
			}
		}
		if h.indefinite {
			pos++
		}
		return pos, nil

	case 6: // tags: the decoder makes a time, a big.Int or a cbor.Tag of them
		if generic {
			if err := s.add(opaqueCost); err != nil {
				return 0, err
			}
		}
		return s.walk(pos, t, depth+1)

	case 7: // simple values and floats
		if generic && h.ai >= 25 && h.ai <= 27 {
			return pos, s.add(boxedSize) // a float64
		}
		return pos, nil
	}
	return 0, fmt.Errorf("cbor: invalid major type %d", h.major)
}

// structFields are the fields the decoder may fill in a struct, by the
// names it matches map keys to, and in order for a toarray struct.
type structFields struct {
	byName  map[string]reflect.Type
	ordered []reflect.Type
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*structFields)
	}
	fs := &structFields{byName: map[string]reflect.Type{}}
	collect(t, fs, map[reflect.Type]bool{})
	fieldCache.Store(t, fs)
	return fs
}

// collect adds t's fields as the decoder names them (the cbor tag, else
// the json tag, else the Go name), with those of embedded structs. Where
// two fields share a name, the larger type is kept: an estimate from
// above.
func collect(t reflect.Type, fs *structFields, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("cbor")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collect(et, fs, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if old, ok := fs.byName[name]; !ok || old.Size() < ft.Size() {
			fs.byName[name] = ft
		}
		fs.ordered = append(fs.ordered, ft)
	}
}

// lookup finds the type of the field the map key at data[pos:] fills: by
// its exact name, else case-insensitively, as the decoder matches them; an
// integer key by its decimal name (keyasint). nil when there is none.
func (fs *structFields) lookup(data []byte, pos int) reflect.Type {
	h, err := readHead(data, pos)
	if err != nil {
		return nil
	}
	var key string
	switch {
	case h.major == 3 && !h.indefinite && h.arg <= uint64(len(data)-pos-h.size):
		key = string(data[pos+h.size : pos+h.size+int(h.arg)])
	case h.major == 0:
		key = strconv.FormatUint(h.arg, 10)
	case h.major == 1 && h.arg < math.MaxInt64:
		key = strconv.FormatInt(-1-int64(h.arg), 10)
	default:
		return nil
	}
	if t, ok := fs.byName[key]; ok {
		return t
	}
	var found reflect.Type
	for name, t := range fs.byName {
		if strings.EqualFold(name, key) && (found == nil || t.Size() > found.Size()) {
			found = t
		}
	}
	return found
}
