package workers

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Env holds a worker's bindings, the Go form of Workers' env: its [vars]
// values, its service bindings and any other binding (a *d1.Database, a
// client). One Env is shared, read-only, by every invocation of the worker;
// it is safe for concurrent use. A nil *Env has no bindings.
type Env struct {
	worker   string
	vars     map[string]any
	text     map[string]string // vars as Var returns them
	services map[string]*Binding
	bindings map[string]any
	durable  map[string]*DurableObjectNamespace
	names    []string
	reg      *Registry
}

func newEnv(r *Registry, name string, w *Worker) (*Env, error) {
	e := &Env{
		worker:   name,
		vars:     make(map[string]any, len(w.Vars)),
		text:     make(map[string]string, len(w.Vars)),
		services: make(map[string]*Binding, len(w.Services)),
		bindings: make(map[string]any, len(w.Bindings)),
		reg:      r,
	}
	seen := map[string]string{}
	claim := func(binding, kind string) error {
		if binding == "" {
			return fmt.Errorf("%w: worker %q: a %s binding has an empty name", ErrInvalidWorker, name, kind)
		}
		if prev, ok := seen[binding]; ok {
			return fmt.Errorf("%w: worker %q: binding name %q is used twice (%s and %s)", ErrInvalidWorker, name, binding, prev, kind)
		}
		seen[binding] = kind
		e.names = append(e.names, binding)
		return nil
	}
	for _, k := range sortedKeys(w.Vars) {
		if err := claim(k, "vars"); err != nil {
			return nil, err
		}
		v, err := copier.Copy(w.Vars[k])
		if err != nil {
			return nil, fmt.Errorf("%w: worker %q: var %q: %v", ErrInvalidWorker, name, k, err)
		}
		text, err := varText(v)
		if err != nil {
			return nil, fmt.Errorf("%w: worker %q: var %q is not a string or JSON value: %v", ErrInvalidWorker, name, k, err)
		}
		e.vars[k], e.text[k] = v, text
	}
	for i, s := range w.Services {
		if err := claim(s.Binding, "services"); err != nil {
			return nil, err
		}
		if s.Service == "" {
			return nil, fmt.Errorf("%w: worker %q: service binding %q (services[%d]) names no service", ErrInvalidWorker, name, s.Binding, i)
		}
		props, err := copier.Copy(s.Props)
		if err != nil {
			return nil, fmt.Errorf("%w: worker %q: service binding %q: props: %v", ErrInvalidWorker, name, s.Binding, err)
		}
		s.Props = props
		e.services[s.Binding] = &Binding{reg: r, svc: s, from: name}
	}
	for _, k := range sortedKeys(w.Bindings) {
		if err := claim(k, "bindings"); err != nil {
			return nil, err
		}
		if w.Bindings[k] == nil {
			return nil, fmt.Errorf("%w: worker %q: binding %q is nil", ErrInvalidWorker, name, k)
		}
		e.bindings[k] = w.Bindings[k]
	}
	if err := e.addNamespaces(w, claim); err != nil {
		return nil, err
	}
	sort.Strings(e.names)
	return e, nil
}

// varText renders a var as Var returns it: strings as they are, other
// JSON-like values as JSON.
func varText(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// Var returns the [vars] value name as text: a string var as it is, a JSON
// var as JSON. It returns "" when there is no such var.
func (e *Env) Var(name string) string {
	if e == nil {
		return ""
	}
	return e.text[name]
}

// Get returns the binding called name: a var's value (a copy, so the shared
// Env stays read-only), a *[Binding] for a service, or any other binding as
// registered. ok is false when there is none.
func (e *Env) Get(name string) (v any, ok bool) {
	if e == nil {
		return nil, false
	}
	if v, ok := e.vars[name]; ok {
		c, err := copier.Copy(v)
		return c, err == nil
	}
	if b, ok := e.services[name]; ok {
		return b, true
	}
	if n, ok := e.durable[name]; ok {
		return n, true
	}
	v, ok = e.bindings[name]
	return v, ok
}

// Service returns the service binding called name. It is never nil: when the
// worker has no such binding, every use of the returned Binding fails with
// [ErrServiceNotFound], naming the worker and the binding.
func (e *Env) Service(name string) *Binding {
	if e != nil {
		if b, ok := e.services[name]; ok {
			return b
		}
	}
	worker := ""
	var r *Registry
	if e != nil {
		worker, r = e.worker, e.reg
	}
	return &Binding{reg: r, from: worker, err: missingBinding(worker, name, e)}
}

func missingBinding(worker, name string, e *Env) error {
	if worker == "" {
		return newError(ErrServiceNotFound, "no service binding %q: this Env belongs to no registered worker", name)
	}
	msg := fmt.Sprintf("worker %q has no service binding %q", worker, name)
	if _, ok := e.Get(name); ok {
		msg += " (it is a binding of another kind)"
	} else if len(e.services) > 0 {
		msg += fmt.Sprintf("; its service bindings are %v", sortedKeys(e.services))
	}
	return newError(ErrServiceNotFound, "%s", msg)
}

// Names returns the names of all the worker's bindings, sorted.
func (e *Env) Names() []string {
	if e == nil {
		return nil
	}
	return append([]string(nil), e.names...)
}

// Worker returns the name of the worker this Env belongs to.
func (e *Env) Worker() string {
	if e == nil {
		return ""
	}
	return e.worker
}

// Get returns the binding called name as a T, as [Env.Get] does, with ok
// false when there is none or it is not a T:
//
//	db, ok := workers.Get[*d1.Database](w.Env, "DB")
func Get[T any](e *Env, name string) (T, bool) {
	v, ok := e.Get(name)
	if !ok {
		var zero T
		return zero, false
	}
	t, ok := v.(T)
	return t, ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
