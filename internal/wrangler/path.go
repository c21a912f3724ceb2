package wrangler

import (
	"slices"
	"strconv"
	"strings"
)

// A keyPath locates a value by the object keys and array indexes that lead
// to it. It is linked from the leaf up, so extending it costs the same at
// any depth; the nil *keyPath is the document's root.
type keyPath struct {
	parent *keyPath
	name   string // object key, if index < 0
	index  int    // array index, or -1
}

// top is the document's root, spelled for readability: top.key("name").
var top *keyPath

func (p *keyPath) key(k string) *keyPath { return &keyPath{parent: p, name: k, index: -1} }

func (p *keyPath) item(i int) *keyPath { return &keyPath{parent: p, index: i} }

// elems returns the path's elements from the root down.
func (p *keyPath) elems() []*keyPath {
	var out []*keyPath
	for ; p != nil; p = p.parent {
		out = append(out, p)
	}
	slices.Reverse(out)
	return out
}

// String formats p the way wrangler names fields: services[1].binding.
// Keys that are not bare TOML keys are quoted: vars."a.b".
func (p *keyPath) String() string {
	var b strings.Builder
	for i, e := range p.elems() {
		if e.index >= 0 {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(e.name) {
			b.WriteString(e.name)
		} else {
			b.WriteString(strconv.Quote(e.name))
		}
	}
	return b.String()
}

func isBareKey(k string) bool {
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return k != ""
}
