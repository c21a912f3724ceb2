package wrangler

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/tailscale/hujson"
)

// A decoder turns one file into the generic tree that validation walks:
// map[string]any for tables and objects, []any for arrays, and scalars as
// the parsers deliver them (json.Number for JSON numbers; int64, float64 and
// date types for TOML). It also collects warnings and builds errors.
type decoder struct {
	file   string
	format format

	// The input and its syntax tree (hujson's for JSON, the builder's for
	// TOML), kept so that errors about a key can point at its line and
	// column.
	data []byte
	tree *hujson.Value
	toml *tomlNode

	newlines []int                             // offsets of data's newlines, for lineColumn
	members  map[*hujson.Object]map[string]int // indexes of large objects, for member

	warnings []*Error
}

// hujsonPos picks the position out of a hujson error, which has no other
// way to report it.
var hujsonPos = regexp.MustCompile(`^hujson: line (\d+), column (\d+): `)

func (d *decoder) decodeJSON(data []byte) (any, error) {
	if off := tooDeep(data); off >= 0 {
		line, col := lineColumn(data, off)
		return nil, &Error{File: d.file, Line: line, Column: col,
			Msg: fmt.Sprintf("arrays and objects nested more than %d deep", maxDepth)}
	}
	// hujson edits comments away in place; the caller's bytes are not ours.
	data = bytes.Clone(data)
	v, err := hujson.Parse(data)
	if err != nil {
		e := &Error{File: d.file, Msg: err.Error()}
		if m := hujsonPos.FindStringSubmatch(e.Msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Column, _ = strconv.Atoi(m[2])
			e.Msg = e.Msg[len(m[0]):]
		}
		return nil, e
	}
	// Standardize blanks comments and trailing commas but keeps newlines
	// and offsets, so positions found in the tree still fit d.data.
	v.Standardize()
	d.data, d.tree = data, &v

	dec := json.NewDecoder(bytes.NewReader(v.Pack()))
	dec.UseNumber() // keep integers exact; jsonValue decides int64 or float64
	var root any
	if err := dec.Decode(&root); err != nil {
		e := &Error{File: d.file, Msg: strings.TrimPrefix(err.Error(), "json: ")}
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			e.Line, e.Column = d.lineColumn(int(se.Offset))
		}
		return nil, e
	}
	if err := d.duplicates(d.tree, nil); err != nil {
		return nil, err
	}
	return root, nil
}

// maxDepth bounds the nesting of arrays and objects, as it is bounded in
// encoding/json and, for arrays and inline tables, in go-toml.
const maxDepth = 10000

// tooDeep returns the offset of the first bracket in a JSONC document that
// is nested deeper than maxDepth, or -1. hujson recurses once per level
// with no limit of its own, so a few megabytes of "[" would overflow the
// stack; this guard runs first. Brackets can hide only in strings and
// comments, which it skips.
func tooDeep(b []byte) int {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '/':
			switch {
			case bytes.HasPrefix(b[i:], []byte("//")):
				j := bytes.IndexByte(b[i:], '\n')
				if j < 0 {
					return -1
				}
				i += j
			case bytes.HasPrefix(b[i:], []byte("/*")):
				j := bytes.Index(b[i+2:], []byte("*/"))
				if j < 0 {
					return -1
				}
				i += 2 + j + 1
			}
		case '[', '{':
			if depth++; depth > maxDepth {
				return i
			}
		case ']', '}':
			depth = max(0, depth-1)
		}
	}
	return -1
}

// duplicates rejects a key repeated within one JSON object, as TOML does.
// JSON parsers, wrangler's included, silently keep the last, so a binding
// written twice would lose its first definition without a word.
func (d *decoder) duplicates(v *hujson.Value, p *keyPath) error {
	switch t := v.Value.(type) {
	case *hujson.Object:
		seen := make(map[string]int, len(t.Members))
		for i := range t.Members {
			m := &t.Members[i]
			lit, _ := m.Name.Value.(hujson.Literal)
			name := lit.String()
			if first, ok := seen[name]; ok {
				line, col := d.lineColumn(m.Name.StartOffset)
				firstLine, _ := d.lineColumn(first)
				return &Error{File: d.file, Key: p.key(name).String(), Line: line, Column: col,
					Msg: fmt.Sprintf("already defined on line %d", firstLine)}
			}
			seen[name] = m.Name.StartOffset
			if err := d.duplicates(&m.Value, p.key(name)); err != nil {
				return err
			}
		}
	case *hujson.Array:
		for i := range t.Elements {
			if err := d.duplicates(&t.Elements[i], p.item(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// position returns the line and column of the value at p, or of its
// nearest ancestor present in the file when p itself is missing. With name
// set it points at the key rather than the value.
func (d *decoder) position(p *keyPath, name bool) (line, column int) {
	if d.toml != nil {
		return d.lineColumn(d.toml.position(p, name))
	}
	if d.tree == nil {
		return 0, 0
	}
	v := d.tree
	off := v.StartOffset
	for _, e := range p.elems() {
		var next *hujson.Value
		nameOff := 0
		switch t := v.Value.(type) {
		case *hujson.Object:
			if e.index >= 0 {
				break
			}
			if i := d.member(t, e.name); i >= 0 {
				next, nameOff = &t.Members[i].Value, t.Members[i].Name.StartOffset
			}
		case *hujson.Array:
			if e.index >= 0 && e.index < len(t.Elements) {
				next = &t.Elements[e.index]
				nameOff = next.StartOffset
			}
		}
		if next == nil {
			break
		}
		v, off = next, next.StartOffset
		if name {
			off = nameOff
		}
	}
	return d.lineColumn(off)
}

// member returns the index of obj's member called name, or -1. Large
// objects are indexed on first use, so that a warning for each of many keys
// does not scan all the keys each time.
func (d *decoder) member(obj *hujson.Object, name string) int {
	if len(obj.Members) > 16 {
		idx, ok := d.members[obj]
		if !ok {
			idx = make(map[string]int, len(obj.Members))
			for i := range obj.Members {
				lit, _ := obj.Members[i].Name.Value.(hujson.Literal)
				idx[lit.String()] = i // the last of duplicates, as decoded
			}
			if d.members == nil {
				d.members = map[*hujson.Object]map[string]int{}
			}
			d.members[obj] = idx
		}
		if i, ok := idx[name]; ok {
			return i
		}
		return -1
	}
	for i := len(obj.Members) - 1; i >= 0; i-- { // the last of duplicates, as decoded
		if lit, _ := obj.Members[i].Name.Value.(hujson.Literal); lit.String() == name {
			return i
		}
	}
	return -1
}

// lineColumn converts an offset in d.data into a 1-based line and byte
// column. The offsets of the lines are found once, on first use: a file
// may have a warning on each of its many lines, and counting lines from the
// start for each would take time quadratic in the file's size.
func (d *decoder) lineColumn(off int) (line, column int) {
	if d.newlines == nil {
		d.newlines = []int{-1} // the "newline" before the first line
		for i := 0; ; i++ {
			j := bytes.IndexByte(d.data[i:], '\n')
			if j < 0 {
				break
			}
			i += j
			d.newlines = append(d.newlines, i)
		}
	}
	off = max(0, min(off, len(d.data)))
	n := sort.SearchInts(d.newlines[1:], off) // newlines before off
	return 1 + n, off - d.newlines[n]
}

// lineColumn converts a byte offset into a 1-based line and byte column.
func lineColumn(data []byte, off int) (line, column int) {
	off = max(0, min(off, len(data)))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	column = off - bytes.LastIndexByte(data[:off], '\n')
	return line, column
}

// jsonValue converts a decoded value to the JSON-like types documented on
// File.Vars, so that TOML and JSON agree.
func (d *decoder) jsonValue(v any, p *keyPath, depth int) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64:
		return v, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, d.errorf(p, "%v cannot be represented in JSON", v)
		}
		return v, nil
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, nil
		}
		// Like JavaScript, keep integers too large for int64 as floats.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, d.errorf(p, "number %s is out of range", v)
		}
		return f, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return fmt.Sprint(v), nil
	case []any:
		if depth >= maxDepth {
			return nil, d.errorf(p, "nested more than %d deep", maxDepth)
		}
		out := make([]any, len(v))
		for i, e := range v {
			x, err := d.jsonValue(e, p.item(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		if depth >= maxDepth {
			// TOML's dotted keys and [a.b.c] headers nest without limit.
			return nil, d.errorf(p, "nested more than %d deep", maxDepth)
		}
		return d.jsonObject(v, p, depth+1)
	}
	return nil, d.errorf(p, "unsupported value of type %T", v)
}

func (d *decoder) jsonObject(m map[string]any, p *keyPath, depth int) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) { // sorted, so the first error is always the same
		x, err := d.jsonValue(m[k], p.key(k), depth)
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (d *decoder) errorf(p *keyPath, format string, args ...any) *Error {
	e := &Error{File: d.file, Key: p.String(), Msg: fmt.Sprintf(format, args...)}
	e.Line, e.Column = d.position(p, false)
	return e
}

func (d *decoder) warn(e *Error) {
	d.warnings = append(d.warnings, e)
}

// warningLines returns the warnings in the order of the file's lines.
func (d *decoder) warningLines() []string {
	slices.SortStableFunc(d.warnings, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	var out []string
	for _, w := range d.warnings {
		out = append(out, w.Error())
	}
	return out
}
