package workers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"reflect"
	"sync/atomic"

	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/transport"
)

// DurableObjectNamespace is a Durable Object namespace binding, Workers'
// DurableObjectNamespace: the objects of one class, each reached by its ID.
// Get one from [Env.DurableObject] (or [Env.Get], [Get]) in a worker, or
// from [Registry.BindDurableObject] outside one. It resolves lazily: a
// namespace whose class is not registered fails on use. It is safe for
// concurrent use.
type DurableObjectNamespace struct {
	reg     *Registry
	b       DurableObjectBinding // ScriptName filled in
	from    string               // the worker whose Env holds it; "" for Registry.BindDurableObject
	key     [sha256.Size]byte
	err     error // a binding that can never resolve
	cls     atomic.Pointer[doClass]
	host    atomic.Pointer[worker] // the remote worker that hosts the class, when one does
	display string
}

func newNamespace(r *Registry, from string, b DurableObjectBinding) *DurableObjectNamespace {
	if b.ScriptName == "" {
		b.ScriptName = from
	}
	n := &DurableObjectNamespace{reg: r, b: b, from: from, key: namespaceKey(b.ScriptName, b.ClassName)}
	n.display = fmt.Sprintf("durable object %q of service %q", b.ClassName, b.ScriptName)
	if b.Name != "" {
		n.display = fmt.Sprintf("binding %q (%s)", b.Name, n.display)
	}
	return n
}

// BindDurableObject returns the namespace of class b.ClassName of worker
// b.ScriptName, as a caller outside any worker (a test, a host
// application) would hold it; b.Name only names it in messages. It
// resolves lazily, as [Registry.Bind] does.
func (r *Registry) BindDurableObject(b DurableObjectBinding) *DurableObjectNamespace {
	n := newNamespace(r, "", b)
	if b.ScriptName == "" || b.ClassName == "" {
		n.err = newError(ErrNamespaceNotFound, "BindDurableObject: a binding needs ScriptName and ClassName, got %+v", b)
	}
	return n
}

// DurableObject returns the Durable Object namespace binding called name.
// It is never nil: when the worker has no such binding, every use of the
// returned namespace fails with [ErrNamespaceNotFound], naming the worker
// and the binding.
//
//	counter := w.Env.DurableObject("COUNTER").GetByName("home")
func (e *Env) DurableObject(name string) *DurableObjectNamespace {
	if e != nil {
		if n, ok := e.durable[name]; ok {
			return n
		}
	}
	var r *Registry
	worker := ""
	if e != nil {
		r, worker = e.reg, e.worker
	}
	n := &DurableObjectNamespace{reg: r, from: worker, b: DurableObjectBinding{Name: name}, display: fmt.Sprintf("binding %q", name)}
	msg := fmt.Sprintf("worker %q has no Durable Object namespace binding %q", worker, name)
	switch {
	case e == nil || worker == "":
		msg = fmt.Sprintf("no Durable Object namespace binding %q: this Env belongs to no registered worker", name)
	case len(e.durable) > 0:
		msg += fmt.Sprintf("; its namespace bindings are %v", sortedKeys(e.durable))
	default:
		if _, ok := e.Get(name); ok {
			msg += " (it is a binding of another kind)"
		}
	}
	n.err = newError(ErrNamespaceNotFound, "%s", msg)
	return n
}

// Binding returns the binding the namespace was made from, its ScriptName
// filled in.
func (n *DurableObjectNamespace) Binding() DurableObjectBinding {
	if n == nil {
		return DurableObjectBinding{}
	}
	return n.b
}

// resolve finds the class once; workers are never removed. For a class
// hosted by a remote worker it returns that worker instead (and a nil
// class).
func (n *DurableObjectNamespace) resolve() (*doClass, *worker, error) {
	if n == nil || n.reg == nil {
		if n != nil && n.err != nil {
			return nil, nil, n.err
		}
		return nil, nil, newError(ErrNamespaceNotFound, "the Durable Object namespace is not bound to a registry")
	}
	if c := n.cls.Load(); c != nil {
		return c, nil, nil
	}
	if wk := n.host.Load(); wk != nil {
		return nil, wk, nil
	}
	if n.err != nil {
		return nil, nil, n.err
	}
	c, wk, err := n.reg.lookupClass(n.b, n.from)
	switch {
	case err != nil:
		return nil, nil, err
	case wk != nil:
		n.host.Store(wk)
		return nil, wk, nil
	}
	n.cls.Store(c)
	return c, nil, nil
}

// lookupClass finds the class a namespace binding names: a class of this
// registry, or the remote worker (a nil class) that hosts it elsewhere.
func (r *Registry) lookupClass(b DurableObjectBinding, from string) (*doClass, *worker, error) {
	prefix := ""
	if from != "" {
		prefix = fmt.Sprintf("worker %q ", from)
	}
	if b.Name != "" {
		prefix += fmt.Sprintf("durable object binding %q: ", b.Name)
	}
	r.mu.RLock()
	wk := r.workers[b.ScriptName]
	r.mu.RUnlock()
	if wk == nil {
		return nil, nil, newError(ErrServiceNotFound, "%sclass %q: service %q is not registered%s", prefix, b.ClassName, b.ScriptName, r.known())
	}
	if wk.remote != nil {
		// Whether it exports the class is for its host to say, call by call.
		return nil, wk, nil
	}
	c := wk.classes[b.ClassName]
	if c == nil {
		msg := fmt.Sprintf("%sservice %q exports no Durable Object class %q", prefix, b.ScriptName, b.ClassName)
		if len(wk.classes) > 0 {
			msg += fmt.Sprintf(" (its classes: %v)", sortedKeys(wk.classes))
		}
		return nil, nil, newError(ErrNamespaceNotFound, "%s", msg)
	}
	return c, nil, nil
}

// validateDurable checks the namespace bindings of wk, as Validate does
// its services.
func (r *Registry) validateDurable(wk *worker) []error {
	if wk.env == nil {
		return nil // a remote worker: its bindings are its host's business
	}
	var errs []error
	for _, name := range sortedKeys(wk.env.durable) {
		if _, _, err := r.lookupClass(wk.env.durable[name].b, wk.name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// IDFromName returns the ID of the object called name: the same ID for the
// same name every time, in every process (Workers' idFromName).
func (n *DurableObjectNamespace) IDFromName(name string) DurableObjectID {
	if n == nil || n.err != nil {
		return DurableObjectID{}
	}
	return idFromName(&n.key, name)
}

// NewUniqueID returns a new random ID, of an object that does not exist yet
// (Workers' newUniqueId).
func (n *DurableObjectNamespace) NewUniqueID() DurableObjectID {
	if n == nil || n.err != nil {
		return DurableObjectID{}
	}
	return newUniqueID(&n.key)
}

// IDFromString reads an ID from its 64 hex digits, as [DurableObjectID.String]
// prints it (Workers' idFromString). It fails with [ErrInvalidArgument] for
// anything else, and for an ID of another namespace.
func (n *DurableObjectNamespace) IDFromString(s string) (DurableObjectID, error) {
	if n == nil || n.err != nil {
		_, _, err := n.resolve()
		return DurableObjectID{}, err
	}
	id, problem := parseID(s)
	if problem == "" && !id.belongs(&n.key) {
		problem = "it is an ID of another namespace, or mistyped"
	}
	if problem != "" {
		q := s
		if len(q) > 80 {
			q = q[:80] + "..."
		}
		return DurableObjectID{}, newError(ErrInvalidArgument, "%s: IDFromString(%q): %s", n.display, q, problem)
	}
	return id, nil
}

// Get returns a stub of the object id: its calls run on that one object,
// one at a time, with every rule of a binding call. It does not fail: a
// zero ID, one of another namespace, or a namespace that does not resolve
// fails each call. The object is made on its first call.
func (n *DurableObjectNamespace) Get(id DurableObjectID) *Stub {
	return newStub(&durableTarget{ns: n, id: id})
}

// GetByName returns a stub of the object called name: Get(IDFromName(name)).
func (n *DurableObjectNamespace) GetByName(name string) *Stub {
	return n.Get(n.IDFromName(name))
}

// durableTarget is what a Durable Object's Stub calls.
type durableTarget struct {
	ns  *DurableObjectNamespace
	id  DurableObjectID
	cls atomic.Pointer[doClass] // once resolved and the ID checked

	// The object and method called last, which most stubs call again.
	last atomic.Pointer[actor]
	m    atomic.Pointer[method.Method]
}

func (t *durableTarget) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	c := t.cls.Load()
	if c == nil {
		var host *worker
		var err error
		if c, host, err = t.ns.resolve(); err != nil {
			return nil, err
		}
		if host != nil {
			// A copy, so that args stays on the caller's stack on the
			// local path (the transport keeps the slice).
			return t.callRemote(ctx, host, method, append([]any(nil), args...), result)
		}
		if t.id.IsZero() {
			return nil, newError(ErrInvalidArgument, "%s method %q: the zero DurableObjectID names no object", c.display, method)
		}
		if !t.id.belongs(&c.key) {
			return nil, newError(ErrInvalidArgument, "%s method %q: ID %s is an ID of another namespace", c.display, method, t.id)
		}
		t.cls.Store(c)
	}
	if ch := c.ep.worker.chain; ch != nil {
		ci := &CallInfo{Service: c.worker, Target: c.name, Method: method, Result: result, target: t}
		return c.reg.interceptTarget(ctx, ch, ci, args)
	}
	return c.call(ctx, t, method, args, result)
}

// invoke is call past the interceptors, once the class is resolved.
func (t *durableTarget) invoke(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	c := t.cls.Load()
	if c == nil {
		return t.invokeRemote(ctx, t.ns.host.Load(), method, args, result)
	}
	return c.call(ctx, t, method, args, result)
}

func (t *durableTarget) info(name string) (transport.MethodInfo, error) {
	c := t.cls.Load()
	if c == nil {
		return transport.MethodInfo{}, newError(ErrMethodNotFound, "%s is remote: its methods are described where it runs", t.describe())
	}
	m, err := c.method(name)
	if err != nil {
		return transport.MethodInfo{}, err
	}
	return methodInfo(m), nil
}

func (t *durableTarget) release() {}

func (t *durableTarget) describe() string {
	d := "durable object"
	if t.ns != nil {
		d = t.ns.display
	}
	if !t.id.IsZero() {
		d += " id " + t.id.String()
	}
	return d
}

// addNamespaces adds the namespace bindings of w to e. A binding to a class
// of the worker itself must name one it exports; one to another worker's
// class is checked by Validate, as workers may be registered in any order.
func (e *Env) addNamespaces(w *Worker, claim func(binding, kind string) error) error {
	if len(w.DurableObjectBindings) == 0 {
		return nil
	}
	e.durable = make(map[string]*DurableObjectNamespace, len(w.DurableObjectBindings))
	for i, b := range w.DurableObjectBindings {
		if err := claim(b.Name, "durable_objects"); err != nil {
			return err
		}
		if b.ClassName == "" {
			return fmt.Errorf("%w: worker %q: durable object binding %q (DurableObjectBindings[%d]) names no class", ErrInvalidWorker, e.worker, b.Name, i)
		}
		if b.ScriptName == "" || b.ScriptName == e.worker {
			if _, ok := w.DurableObjects[b.ClassName]; !ok {
				msg := fmt.Sprintf("worker %q: durable object binding %q names class %q, which the worker does not export", e.worker, b.Name, b.ClassName)
				if len(w.DurableObjects) > 0 {
					msg += fmt.Sprintf(" (its classes: %v)", sortedKeys(w.DurableObjects))
				} else {
					msg += "; add it to Worker.DurableObjects, or set ScriptName to the worker that does"
				}
				return fmt.Errorf("%w: %s", ErrInvalidWorker, msg)
			}
		}
		e.durable[b.Name] = newNamespace(e.reg, e.worker, b)
	}
	return nil
}

// configDurable adds a config's namespace bindings to w, puts the worker's
// state beside the config, and checks the config's migrations against the
// classes of the code.
func (r *Registry) configDurable(cfg *Config, file string, code Worker, w *Worker) error {
	w.DurableObjectBindings = append(append([]DurableObjectBinding(nil), code.DurableObjectBindings...), cfg.DurableObjects...)
	w.stateDir = r.opts.stateDir
	if w.stateDir == "" {
		w.stateDir = filepath.Join(filepath.Dir(cfg.Path), ".wrangler", "state")
	}
	created := map[string]bool{}
	for i, m := range cfg.Migrations {
		for _, list := range []struct {
			key     string
			classes []string
		}{{"new_classes", m.NewClasses}, {"new_sqlite_classes", m.NewSQLiteClasses}} {
			for j, c := range list.classes {
				if _, ok := code.DurableObjects[c]; !ok {
					return fmt.Errorf("%w: %s: migrations[%d].%s[%d]: class %q is not in the code's Worker.DurableObjects%s",
						ErrInvalidConfig, file, i, list.key, j, c, classList(code.DurableObjects))
				}
				created[c] = true
			}
		}
	}
	for i, b := range cfg.DurableObjects {
		if b.ScriptName != "" && b.ScriptName != cfg.Name {
			continue
		}
		if _, ok := code.DurableObjects[b.ClassName]; !ok {
			return fmt.Errorf("%w: %s: durable_objects.bindings[%d].class_name: class %q is not in the code's Worker.DurableObjects%s; set script_name if another worker exports it",
				ErrInvalidConfig, file, i, b.ClassName, classList(code.DurableObjects))
		}
		if !created[b.ClassName] {
			r.logger().Warn(fmt.Sprintf("workers: config: %s: durable_objects.bindings[%d]: class %q is created by no [[migrations]] entry; wrangler deploy would refuse it (add new_sqlite_classes = [%q])", file, i, b.ClassName, b.ClassName), "worker", cfg.Name)
		}
	}
	return nil
}

func classList(m map[string]Constructor) string {
	if len(m) == 0 {
		return " (it has none)"
	}
	return fmt.Sprintf(" (its classes: %v)", sortedKeys(m))
}
