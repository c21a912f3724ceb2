package wrangler

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// TOML is parsed by go-toml's own parser, unstable.Parser, and the tree is
// built here rather than by toml.Unmarshal. Unmarshal checks each key for
// duplicates and type changes against every key seen before it in the
// document, by a linear scan (go-toml v2.4.3, internal/tracker/seen.go):
// a table of n keys costs O(n²), and a [vars] table of 200,000 keys took
// minutes. No option turns that check off and no newer release was
// available; BurntSushi/toml, the other well-kept parser, is linear in keys
// but quadratic in the parts of one dotted key (a.a.a...) up to v1.6.0. The
// parser alone is linear, so the builder below applies the same rules as
// go-toml's tracker, with maps: the result is what toml.Unmarshal returns
// into a map[string]any (FuzzTOMLTree checks that), in linear time.
//
// Building the tree here also records where every key and value is, so
// that errors and warnings about TOML keys carry a line, as JSON ones do.

// tomlKind is what a key of a TOML document has been defined as, which
// decides how it may be extended later.
type tomlKind uint8

const (
	tomlValue      tomlKind = iota // a scalar, array or inline table: never extended
	tomlDotted                     // a table made by a dotted key: extended by dotted keys only
	tomlTable                      // a table made by a [header], or on the way to one
	tomlArrayTable                 // an array of tables made by [[header]]s
)

func (k tomlKind) String() string {
	switch k {
	case tomlDotted:
		return "a table by a dotted key"
	case tomlTable:
		return "a table"
	case tomlArrayTable:
		return "an array of tables"
	}
	return "a value"
}

// A tomlNode is one key or array element of the document, with where it is.
type tomlNode struct {
	kind     tomlKind
	explicit bool // tomlTable: defined by a header of its own
	off      int  // byte offset of the key (of the element, in arrays)
	valOff   int  // byte offset of the value

	table    map[string]any       // the table it stands for, if it is one
	children map[string]*tomlNode // its keys, for tables and inline tables
	elems    []*tomlNode          // array elements, and the tables of an array of tables
}

func newTOMLTable(kind tomlKind, off int) *tomlNode {
	return &tomlNode{kind: kind, off: off, valOff: off, table: map[string]any{}, children: map[string]*tomlNode{}}
}

// add defines key name of the table n as child, whose value is v.
func (n *tomlNode) add(name string, child *tomlNode, v any) {
	n.children[name] = child
	n.table[name] = v
}

// tomlBuilder turns the expressions of one document into its tree.
type tomlBuilder struct {
	d        *decoder
	p        *unstable.Parser
	root     *tomlNode
	current  *tomlNode // the table key/value lines go to
	curPath  *keyPath
	scratchT toml.LocalDateTime
}

func (d *decoder) decodeTOML(data []byte) (any, error) {
	d.data = data
	p := &unstable.Parser{}
	p.Reset(data)
	b := &tomlBuilder{d: d, p: p, root: newTOMLTable(tomlTable, 0)}
	b.root.explicit = true
	b.current = b.root
	for p.NextExpression() {
		e := p.Expression()
		var err error
		switch e.Kind {
		case unstable.KeyValue:
			err = b.keyValue(b.current, b.curPath, e)
		case unstable.Table:
			err = b.header(e, false)
		case unstable.ArrayTable:
			err = b.header(e, true)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.Error(); err != nil {
		e := &Error{File: d.file, Msg: err.Error()}
		if pe, ok := errors.AsType[*unstable.ParserError](err); ok {
			e.Line, e.Column = d.lineColumn(d.offsetOf(pe.Highlight))
			var kp *keyPath
			for _, k := range pe.Key {
				kp = kp.key(k)
			}
			e.Key = kp.String()
		}
		return nil, e
	}
	d.toml = b.root
	return b.root.table, nil
}

// offsetOf returns the offset of b, a subslice of d.data as the parser's
// highlights are, or the end of the data if it is not one.
func (d *decoder) offsetOf(b []byte) int {
	off := cap(d.data) - cap(b)
	if b == nil || off < 0 || off+len(b) > len(d.data) {
		return len(d.data)
	}
	return off
}

// errAt returns an error about the key at p whose key (or value) is at off.
func (b *tomlBuilder) errAt(off int, p *keyPath, format string, args ...any) *Error {
	e := &Error{File: b.d.file, Key: p.String(), Msg: fmt.Sprintf(format, args...)}
	e.Line, e.Column = b.d.lineColumn(off)
	return e
}

func (b *tomlBuilder) line(off int) int {
	line, _ := b.d.lineColumn(off)
	return line
}

// keyValue defines the (possibly dotted) key of e, under the table t at p,
// as its value.
func (b *tomlBuilder) keyValue(t *tomlNode, p *keyPath, e *unstable.Node) error {
	it := e.Key()
	for it.Next() {
		part := it.Node()
		name, off := string(part.Data), int(part.Raw.Offset)
		p = p.key(name)
		prev, seen := t.children[name]
		if it.IsLast() {
			if seen {
				return b.errAt(off, p, "already defined as %s on line %d", prev.kind, b.line(prev.off))
			}
			child := &tomlNode{kind: tomlValue, off: off, valOff: off}
			v, err := b.value(e.Value(), child, p)
			if err != nil {
				return err
			}
			t.add(name, child, v)
			return nil
		}
		if !seen {
			prev = newTOMLTable(tomlDotted, off)
			t.add(name, prev, prev.table)
		} else if prev.kind != tomlDotted {
			return b.errAt(off, p, "already defined as %s on line %d; a dotted key cannot extend it", prev.kind, b.line(prev.off))
		}
		t = prev
	}
	panic("unreachable: key/value without a key")
}

// header handles a [table] or [[array of tables]] header: it defines the
// table and makes it the one key/value lines go to.
func (b *tomlBuilder) header(e *unstable.Node, array bool) error {
	t, p := b.root, (*keyPath)(nil)
	it := e.Key()
	for it.Next() {
		part := it.Node()
		name, off := string(part.Data), int(part.Raw.Offset)
		p = p.key(name)
		child, seen := t.children[name]
		if it.IsLast() {
			if array {
				return b.arrayElement(t, child, name, off, p)
			}
			if !seen {
				child = newTOMLTable(tomlTable, off)
				t.add(name, child, child.table)
			} else if child.kind != tomlTable || child.explicit {
				what := child.kind.String()
				if child.kind == tomlTable {
					what = "a table"
				}
				return b.errAt(off, p, "already defined as %s on line %d", what, b.line(child.off))
			}
			child.explicit = true
			child.valOff = off
			b.current, b.curPath = child, p
			return nil
		}
		switch {
		case !seen:
			child = newTOMLTable(tomlTable, off)
			t.add(name, child, child.table)
		case child.kind == tomlValue:
			return b.errAt(off, p, "already defined as a value on line %d", b.line(child.off))
		case child.kind == tomlArrayTable:
			// [a.b] after [[a]] is a table in a's last element.
			p = p.item(len(child.elems) - 1)
			child = child.elems[len(child.elems)-1]
		}
		t = child
	}
	panic("unreachable: header without a key")
}

// arrayElement appends a table to the array of tables name of t, for a
// [[header]]; at is what name is defined as so far, if anything.
func (b *tomlBuilder) arrayElement(t, at *tomlNode, name string, off int, p *keyPath) error {
	if at == nil {
		at = &tomlNode{kind: tomlArrayTable, off: off, valOff: off}
		t.add(name, at, []any{})
	} else if at.kind != tomlArrayTable {
		return b.errAt(off, p, "already defined as %s on line %d, not as an array of tables", at.kind, b.line(at.off))
	}
	elem := newTOMLTable(tomlTable, off)
	elem.explicit = true
	at.elems = append(at.elems, elem)
	t.table[name] = append(t.table[name].([]any), elem.table)
	b.current, b.curPath = elem, p.item(len(at.elems)-1)
	return nil
}

// value converts the value node v of the key at p, recording the positions
// of what it holds in n.
func (b *tomlBuilder) value(v *unstable.Node, n *tomlNode, p *keyPath) (any, error) {
	if v.Raw.Length > 0 {
		n.valOff = int(v.Raw.Offset)
	}
	switch v.Kind {
	case unstable.String:
		return string(v.Data), nil
	case unstable.Bool:
		return v.Data[0] == 't', nil
	case unstable.Integer:
		i, err := parseTOMLInt(v.Data)
		if err != nil {
			return nil, b.errAt(n.valOff, p, "%v", err)
		}
		return i, nil
	case unstable.Float:
		f, err := parseTOMLFloat(v.Data)
		if err != nil {
			return nil, b.errAt(n.valOff, p, "%v", err)
		}
		return f, nil
	case unstable.LocalDate:
		var d toml.LocalDate
		return d, b.textErr(d.UnmarshalText(v.Data), n, p)
	case unstable.LocalTime:
		var t toml.LocalTime
		err := t.UnmarshalText(v.Data)
		return t, b.textErr(err, n, p)
	case unstable.LocalDateTime:
		var t toml.LocalDateTime
		err := t.UnmarshalText(v.Data)
		return t, b.textErr(err, n, p)
	case unstable.DateTime:
		t, err := b.dateTime(v.Data)
		return t, b.textErr(err, n, p)
	case unstable.InlineTable:
		n.children = map[string]*tomlNode{}
		n.table = map[string]any{}
		it := v.Children()
		for it.Next() {
			if err := b.keyValue(n, p, it.Node()); err != nil {
				return nil, err
			}
		}
		return n.table, nil
	case unstable.Array:
		var out []any
		it := v.Children()
		for it.Next() {
			e := it.Node()
			if e.Kind == unstable.Comment {
				continue
			}
			elem := &tomlNode{kind: tomlValue, off: n.valOff, valOff: n.valOff}
			if e.Raw.Length > 0 {
				elem.off = int(e.Raw.Offset)
			}
			x, err := b.value(e, elem, p.item(len(out)))
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, elem)
			out = append(out, x)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return nil, b.errAt(n.valOff, p, "unexpected %s", v.Kind)
}

// textErr places an error of go-toml's date and time parsers at the value.
func (b *tomlBuilder) textErr(err error, n *tomlNode, p *keyPath) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if pe, ok := errors.AsType[*unstable.ParserError](err); ok {
		msg = pe.Message
	}
	return b.errAt(n.valOff, p, "%s", msg)
}

// dateTime parses an offset date-time: a local date-time, then Z or ±HH:MM,
// as go-toml does.
func (b *tomlBuilder) dateTime(data []byte) (time.Time, error) {
	local, zone := data, time.UTC
	switch {
	case len(data) > 0 && (data[len(data)-1] == 'Z' || data[len(data)-1] == 'z'):
		local = data[:len(data)-1]
	case len(data) >= 6 && (data[len(data)-6] == '+' || data[len(data)-6] == '-') && data[len(data)-3] == ':':
		off := data[len(data)-6:]
		h, err1 := strconv.Atoi(string(off[1:3]))
		m, err2 := strconv.Atoi(string(off[4:6]))
		if err1 != nil || err2 != nil || h > 23 || m > 59 {
			return time.Time{}, fmt.Errorf("invalid time zone offset %s", off)
		}
		secs := h*3600 + m*60
		if off[0] == '-' {
			secs = -secs
		}
		if secs != 0 {
			zone = time.FixedZone("", secs)
		}
		local = data[:len(data)-6]
	default:
		return time.Time{}, errors.New("date-time is missing its time zone")
	}
	if err := b.scratchT.UnmarshalText(local); err != nil {
		return time.Time{}, err
	}
	return b.scratchT.AsTime(zone), nil
}

// parseTOMLInt parses an integer the parser has checked: decimal with an
// optional sign, or 0x, 0o, 0b, with underscores between digits.
func parseTOMLInt(b []byte) (int64, error) {
	s := string(bytes.ReplaceAll(b, []byte("_"), nil))
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			s = s[2:]
		}
	}
	i, err := strconv.ParseInt(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %s does not fit in 64 bits", b)
	}
	return i, nil
}

// parseTOMLFloat parses a float the parser has checked.
func parseTOMLFloat(b []byte) (float64, error) {
	s := string(bytes.ReplaceAll(b, []byte("_"), nil))
	switch s {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan", "+nan", "-nan":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("float %s is out of range", b)
	}
	return f, nil
}

// position returns the offset of the value (or, with name set, of the key)
// at p below n, or of its nearest ancestor in the document.
func (n *tomlNode) position(p *keyPath, name bool) int {
	off := n.valOff
	for _, e := range p.elems() {
		var next *tomlNode
		if e.index >= 0 {
			if e.index < len(n.elems) {
				next = n.elems[e.index]
			}
		} else {
			next = n.children[e.name]
		}
		if next == nil {
			break
		}
		n, off = next, next.valOff
		if name {
			off = next.off
		}
	}
	return off
}
