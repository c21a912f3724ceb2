// Package method builds the table of RPC methods of an entrypoint type once,
// at registration, so that a call looks a method up in a map and never
// searches a type by name with reflection.
package method

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/seed-29c11ff2/workers/internal/shim"
)

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// A Method is one exported method of *T, ready to call.
type Method struct {
	Name     string
	Index    int            // in the method set of *T, for reflect.Value.Method
	Func     reflect.Value  // func(recv *T, [ctx], params...) results
	Type     reflect.Type   // the method's own type, without the receiver
	Ctx      bool           // the first parameter is a context.Context
	Params   []reflect.Type // parameters after the context; the last is a slice when Variadic
	Variadic bool
	Result   reflect.Type // nil when the method returns no value
	Error    bool         // the last result is an error
	Problem  string       // why the method cannot be called over RPC; "" when it can
	Fast     shim.Func    // calls the method without reflection; nil when only reflection can
	Plain    []bool       // per parameter: its values need no copy
	AllPlain bool         // no parameter needs a copy, and none is variadic
	PlainOut bool         // the result needs no copy
	RefOut   bool         // the result crosses by reference (an RpcTarget or a stub)
	Refs     bool         // some parameter can hold a reference: a call may make stubs
}

// Param returns the type of argument i (the element type for the variadic
// part) and whether its values need no copy.
func (m *Method) Param(i int) (reflect.Type, bool) {
	last := len(m.Params) - 1
	if m.Variadic && i >= last {
		return m.Params[last].Elem(), m.Plain[last]
	}
	return m.Params[i], m.Plain[i]
}

// A Table holds the RPC methods of one entrypoint type.
type Table struct {
	Methods map[string]*Method
	Names   []string // sorted, callable or not
}

// Build makes the table for ptr (a *T). Methods named in exclude (those
// promoted from the runtime's own base type, and reserved names) are left out.
func Build(ptr reflect.Type, exclude map[string]bool) *Table {
	t := &Table{Methods: make(map[string]*Method)}
	for i := range ptr.NumMethod() {
		m := ptr.Method(i)
		if !m.IsExported() || exclude[m.Name] {
			continue
		}
		t.Methods[m.Name] = describe(m)
		t.Names = append(t.Names, m.Name)
	}
	sort.Strings(t.Names)
	return t
}

func describe(m reflect.Method) *Method {
	ft := m.Type // includes the receiver
	out := &Method{Name: m.Name, Index: m.Index, Func: m.Func, Type: ft, Variadic: ft.IsVariadic()}
	in := 1
	if ft.NumIn() > 1 && ft.In(1) == contextType {
		out.Ctx = true
		in = 2
	}
	for ; in < ft.NumIn(); in++ {
		out.Params = append(out.Params, ft.In(in))
	}
	switch ft.NumOut() {
	case 0:
	case 1:
		if ft.Out(0) == errorType {
			out.Error = true
		} else {
			out.Result = ft.Out(0)
		}
	case 2:
		if ft.Out(1) != errorType {
			out.Problem = fmt.Sprintf("its second result is %s, not error", ft.Out(1))
		}
		out.Result = ft.Out(0)
		out.Error = true
	default:
		out.Problem = fmt.Sprintf("it has %d results", ft.NumOut())
	}
	if out.Problem != "" {
		out.Problem += "; an RPC method returns (), (T), (error) or (T, error)"
	}
	return out
}

// Signature renders the method as Go source declares it, without the
// receiver, for messages: "Add(int, int) int".
func (m *Method) Signature() string {
	var in, out []string
	for i := 1; i < m.Type.NumIn(); i++ {
		t := m.Type.In(i)
		if m.Variadic && i == m.Type.NumIn()-1 {
			in = append(in, "..."+t.Elem().String())
			continue
		}
		in = append(in, t.String())
	}
	for i := range m.Type.NumOut() {
		out = append(out, m.Type.Out(i).String())
	}
	s := m.Name + "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
		return s
	case 1:
		return s + " " + out[0]
	}
	return s + " (" + strings.Join(out, ", ") + ")"
}

// Suggest returns the callable name closest to name, for a "did you mean"
// hint: an exact match ignoring case first, then a name at most two edits
// away. It returns "" when nothing is close.
func (t *Table) Suggest(name string) string {
	best, bestDist := "", 3
	for _, n := range t.Names {
		if t.Methods[n].Problem != "" {
			continue
		}
		if strings.EqualFold(n, name) {
			return n
		}
		if d := distance(strings.ToLower(n), strings.ToLower(name)); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
