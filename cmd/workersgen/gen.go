package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/seed-29c11ff2/workers/internal/method"
)

const (
	workersPath = "github.com/seed-29c11ff2/workers"
	codegenPath = workersPath + "/codegen"
)

// Generate returns the source of the file out (workers_gen.go) for the
// package in dir, or nil when no type there embeds workers.Entrypoint.
func Generate(dir, out string) ([]byte, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedImports | packages.NeedDeps | packages.NeedSyntax | packages.NeedTypesInfo,
		Dir:  dir,
		// The file being regenerated may be stale and no longer compile:
		// read only its package clause, so the package type-checks without it.
		ParseFile: func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
			mode := parser.AllErrors | parser.ParseComments
			if filepath.Base(filename) == filepath.Base(out) {
				mode = parser.PackageClauseOnly
			}
			return parser.ParseFile(fset, filename, src, mode)
		},
	}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", dir, err)
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("%s: expected one package, found %d", dir, len(pkgs))
	}
	pkg := pkgs[0]
	if len(pkg.Errors) > 0 {
		var msgs []string
		for _, e := range pkg.Errors {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("%s does not type-check:\n\t%s", dir, strings.Join(msgs, "\n\t"))
	}
	return generate(pkg.Types)
}

// file is what the template renders.
type file struct {
	Package string
	Imports []imp
	Workers []*workerType
}

type imp struct{ Name, Path string }

type workerType struct {
	Target  bool // an RpcTarget, called through a stub; else a worker entrypoint
	Name    string
	Hash    string
	Methods []*rpcMethod
	Skipped []string // methods of shapes RPC cannot call, with why
}

type rpcMethod struct {
	Name     string
	Ctx      bool
	Params   []param
	Variadic bool
	Result   string // "" when none
	Copy     bool   // the result needs a copy
	ByRef    bool   // a stub crosses: the client calls through the runtime
	Error    bool
}

type param struct {
	Name     string // as declared; may be "" or "_"
	Type     string // as written in the generated file; the element type when variadic
	NeedCopy bool
}

func generate(pkg *types.Package) ([]byte, error) {
	var wpkg *types.Package
	for _, p := range pkg.Imports() {
		if p.Path() == workersPath {
			wpkg = p
		}
	}
	if pkg.Path() == workersPath || wpkg == nil {
		return nil, nil
	}
	q := newQualifier(pkg)
	f := &file{Package: pkg.Name()}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		tn, ok := scope.Lookup(name).(*types.TypeName)
		if !ok || tn.IsAlias() {
			continue
		}
		named, ok := tn.Type().(*types.Named)
		if !ok || named.TypeParams().Len() > 0 {
			continue
		}
		if _, ok := named.Underlying().(*types.Struct); !ok {
			continue
		}
		ptr := types.NewPointer(named)
		target := false
		if obj, _, _ := types.LookupFieldOrMethod(ptr, true, wpkg, "base"); obj == nil {
			if !isTarget(ptr, wpkg) {
				continue // embeds neither workers.Entrypoint nor workers.RpcTarget
			}
			target = true
		}
		w, err := describe(named, ptr, wpkg, q)
		if err != nil {
			return nil, err
		}
		w.Target = target
		f.Workers = append(f.Workers, w)
	}
	if len(f.Workers) == 0 {
		return nil, nil
	}
	f.Imports = q.imports()
	var buf bytes.Buffer
	render(&buf, f)
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %w\n%s", err, buf.Bytes())
	}
	return src, nil
}

func describe(named *types.Named, ptr types.Type, wpkg *types.Package, q *qualifier) (*workerType, error) {
	w := &workerType{Name: named.Obj().Name()}
	ms := types.NewMethodSet(ptr)
	var lines []string
	for i := range ms.Len() {
		fn := ms.At(i).Obj().(*types.Func)
		reserved := map[string]bool{"Fetch": true, "Scheduled": true}
		if isTarget(ptr, wpkg) {
			reserved = map[string]bool{"Dispose": true}
		}
		if !fn.Exported() || reserved[fn.Name()] || fromEntrypoint(fn, wpkg) {
			continue
		}
		sig := fn.Type().(*types.Signature)
		lines = append(lines, fn.Name()+" "+canonicalSignature(sig))
		m, why := rpcShape(fn.Name(), sig, q, wpkg)
		if why != "" {
			w.Skipped = append(w.Skipped, fn.Name()+": "+why)
			continue
		}
		w.Methods = append(w.Methods, m)
	}
	sort.Slice(w.Methods, func(i, j int) bool { return w.Methods[i].Name < w.Methods[j].Name })
	w.Hash = method.HashLines(lines)
	return w, nil
}

func fromEntrypoint(fn *types.Func, wpkg *types.Package) bool {
	recv := fn.Type().(*types.Signature).Recv()
	if recv == nil {
		return false
	}
	t := recv.Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() == wpkg && n.Obj().Name() == "Entrypoint"
}

// rpcShape describes a method as the runtime's method table does, or says
// why RPC cannot call it.
func rpcShape(name string, sig *types.Signature, q *qualifier, wpkg *types.Package) (*rpcMethod, string) {
	m := &rpcMethod{Name: name, Variadic: sig.Variadic()}
	params := sig.Params()
	start := 0
	if params.Len() > 0 && isContext(params.At(0).Type()) {
		m.Ctx, start = true, 1
	}
	for i := start; i < params.Len(); i++ {
		t := params.At(i).Type()
		if m.Variadic && i == params.Len()-1 {
			t = t.(*types.Slice).Elem()
		}
		if isTarget(t, wpkg) {
			return nil, fmt.Sprintf("parameter %s is an RpcTarget, which crosses by reference: declare it as *workers.Stub", types.TypeString(t, q.qualify))
		}
		m.ByRef = m.ByRef || isStub(t, wpkg)
		m.Params = append(m.Params, param{Name: params.At(i).Name(), Type: types.TypeString(t, q.qualify), NeedCopy: needsCopy(t)})
	}
	res := sig.Results()
	if res.Len() > 0 && (isTarget(res.At(0).Type(), wpkg) || isStub(res.At(0).Type(), wpkg)) {
		// The caller gets a stub: the call goes through the runtime, which
		// makes the reference.
		m.ByRef = true
		m.Result = "*" + q.qualify(wpkg) + ".Stub"
		switch {
		case res.Len() == 1:
		case res.Len() == 2 && isError(res.At(1).Type()):
			m.Error = true
		default:
			return nil, "its second result is not error"
		}
		return m, ""
	}
	switch res.Len() {
	case 0:
	case 1:
		if isError(res.At(0).Type()) {
			m.Error = true
		} else {
			m.Result, m.Copy = types.TypeString(res.At(0).Type(), q.qualify), needsCopy(res.At(0).Type())
		}
	case 2:
		if !isError(res.At(1).Type()) {
			return nil, "its second result is not error"
		}
		m.Result, m.Copy, m.Error = types.TypeString(res.At(0).Type(), q.qualify), needsCopy(res.At(0).Type()), true
	default:
		return nil, fmt.Sprintf("it has %d results", res.Len())
	}
	return m, ""
}

// isTarget reports whether t is a pointer to a type that embeds
// workers.RpcTarget, whose values cross by reference.
func isTarget(t types.Type, wpkg *types.Package) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	if n, ok := types.Unalias(p.Elem()).(*types.Named); !ok || n.Obj().Pkg() == wpkg {
		return false
	}
	obj, _, _ := types.LookupFieldOrMethod(t, true, wpkg, "rpcTarget")
	return obj != nil
}

// isStub reports whether t is *workers.Stub.
func isStub(t types.Type, wpkg *types.Package) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := types.Unalias(p.Elem()).(*types.Named)
	return ok && n.Obj().Pkg() == wpkg && n.Obj().Name() == "Stub"
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// needsCopy is false for types whose values are copies already (numbers,
// strings, bools); the runtime decides for the rest.
func needsCopy(t types.Type) bool {
	_, basic := types.Unalias(t).Underlying().(*types.Basic)
	return !basic
}

// canonicalSignature renders a signature as method.CanonicalSignature renders
// the same signature from reflection; the two must agree for the hash.
func canonicalSignature(sig *types.Signature) string {
	var b strings.Builder
	b.WriteString("func(")
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			b.WriteString("...")
			t = t.(*types.Slice).Elem()
		}
		b.WriteString(canonical(t))
	}
	b.WriteString(")")
	if sig.Results().Len() > 0 {
		b.WriteString(" (")
		for i := range sig.Results().Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(canonical(sig.Results().At(i).Type()))
		}
		b.WriteString(")")
	}
	return b.String()
}

func canonical(t types.Type) string {
	switch t := types.Unalias(t).(type) {
	case *types.Basic:
		return types.Typ[t.Kind()].Name()
	case *types.Named:
		obj := t.Obj()
		name := obj.Name()
		if args := t.TypeArgs(); args.Len() > 0 {
			var parts []string
			for i := range args.Len() {
				parts = append(parts, canonical(args.At(i)))
			}
			name += "[" + strings.Join(parts, ",") + "]"
		}
		if obj.Pkg() == nil {
			return name
		}
		return obj.Pkg().Path() + "." + name
	case *types.Pointer:
		return "*" + canonical(t.Elem())
	case *types.Slice:
		return "[]" + canonical(t.Elem())
	case *types.Array:
		return "[" + strconv.FormatInt(t.Len(), 10) + "]" + canonical(t.Elem())
	case *types.Map:
		return "map[" + canonical(t.Key()) + "]" + canonical(t.Elem())
	case *types.Chan:
		switch t.Dir() {
		case types.RecvOnly:
			return "<-chan " + canonical(t.Elem())
		case types.SendOnly:
			return "chan<- " + canonical(t.Elem())
		}
		return "chan " + canonical(t.Elem())
	case *types.Signature:
		return canonicalSignature(t)
	case *types.Struct:
		fields := make([]string, t.NumFields())
		for i := range fields {
			f := t.Field(i)
			name := f.Name()
			if !f.Exported() && f.Pkg() != nil {
				name = f.Pkg().Path() + "." + name
			}
			s := name + " " + canonical(f.Type())
			if f.Embedded() {
				s = "embedded " + s
			}
			if tag := t.Tag(i); tag != "" {
				s += " " + strconv.Quote(tag)
			}
			fields[i] = s
		}
		return "struct{" + strings.Join(fields, "; ") + "}"
	case *types.Interface:
		methods := make([]string, t.NumMethods())
		for i := range methods {
			m := t.Method(i)
			name := m.Name()
			if !m.Exported() && m.Pkg() != nil {
				name = m.Pkg().Path() + "." + name
			}
			methods[i] = name + canonicalSignature(m.Type().(*types.Signature))[len("func"):]
		}
		sort.Strings(methods)
		return "interface{" + strings.Join(methods, "; ") + "}"
	}
	return t.String()
}

// qualifier names other packages in the generated file and collects the
// imports it needs, renaming on a clash.
type qualifier struct {
	self  *types.Package
	names map[string]string // path -> name in file
	used  map[string]bool
}

func newQualifier(self *types.Package) *qualifier {
	q := &qualifier{self: self, names: map[string]string{}, used: map[string]bool{}}
	q.add("context", "context")
	q.add(workersPath, "workers")
	q.add(codegenPath, "codegen")
	return q
}

func (q *qualifier) add(path, name string) string {
	if n, ok := q.names[path]; ok {
		return n
	}
	base := name
	for i := 2; q.used[name] || name == q.self.Name(); i++ {
		name = base + strconv.Itoa(i)
	}
	q.names[path], q.used[name] = name, true
	return name
}

func (q *qualifier) qualify(p *types.Package) string {
	if p == q.self {
		return ""
	}
	return q.add(p.Path(), p.Name())
}

func (q *qualifier) imports() []imp {
	var out []imp
	for path, name := range q.names {
		out = append(out, imp{Name: name, Path: path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
