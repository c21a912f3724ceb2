package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/transport"
)

// Worker is the code and bindings of one worker, as a Workers script and its
// wrangler configuration: a default entrypoint, named entrypoints, and what
// its Env holds.
type Worker struct {
	Default     Constructor            // the default export; may be zero (no default entrypoint)
	Entrypoints map[string]Constructor // named entrypoints, each a permission boundary
	Vars        map[string]any         // [vars]: strings or JSON-like values
	Services    []Service              // service bindings of this worker
	Bindings    map[string]any         // any other binding (a *d1.Database, a client, ...)
	// Crons are cron triggers ([triggers] crons): schedules on which the
	// registry runs the default entrypoint's Scheduled method, in UTC.
	Crons []string

	// DurableObjects are the Durable Object classes the worker exports, by
	// class name; each type embeds [DurableObject].
	DurableObjects map[string]Constructor
	// DurableObjectBindings bind Durable Object namespaces into the Env,
	// as [[durable_objects.bindings]] entries do.
	DurableObjectBindings []DurableObjectBinding

	// Interceptors wrap the calls and fetches this worker serves, inside
	// the registry's own (see [WithInterceptors]).
	Interceptors []Interceptor

	stateDir string // where RegisterConfig keeps the worker's state
}

// Service is a service binding: the name a caller's Env knows it by, and the
// worker and entrypoint it reaches.
type Service struct {
	Binding    string // the name in the caller's Env
	Service    string // the target worker
	Entrypoint string // "" = default
	Props      any    // delivered to the callee as Ctx.Props()
}

// Registry maps service names to workers and runs their invocations. It is
// the Go form of a workerd process (or of wrangler dev with several workers).
// All its methods are safe for concurrent use.
type Registry struct {
	opts  options
	track *tracker
	drain context.Context // canceled, with cause errGaveUp, once Close stops waiting
	stop  context.CancelCauseFunc

	closeOnce sync.Once // closes closers, once, for every Close
	closeErr  error     // what closing them returned

	mu        sync.RWMutex
	workers   map[string]*worker
	closers   []io.Closer          // bindings the registry opened, closed by Close
	databases map[string]*sharedDB // D1 files opened by RegisterConfig, by path

	exportsMu sync.Mutex
	exports   map[any]*stubRef             // RpcTargets of this registry that stubs refer to, by object
	targetEPs map[*targetClass]*entrypoint // what calls on targets of each type count and are named by

	crons crons // running cron triggers

	targetChain *chain // the interceptors of calls through stubs; nil when none

	tasks link.Tasks // the WaitUntil tasks running, for the test kit to wait for
}

type worker struct {
	name     string
	env      *Env
	services []Service
	def      *entrypoint
	named    map[string]*entrypoint
	remote   transport.Transport // set for a worker that runs elsewhere
	reg      *Registry
	classes  map[string]*doClass // Durable Object classes, by class name
	chain    *chain              // its interceptors; nil when it has none
}

// entrypoint is one registered constructor with its method table, built once.
type entrypoint struct {
	worker  *worker
	track   *tracker // worker.reg.track, two loads nearer for the end of every call
	name    string   // "" for the default
	ctor    Constructor
	table   *method.Table
	fetch   bool
	display string

	scheduled bool // has Scheduled(context.Context, ScheduledEvent) error
}

func (ep *entrypoint) label() string {
	if ep == nil {
		return ""
	}
	return ep.display
}

// NewRegistry returns an empty Registry.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{
		opts:    options{maxDepth: DefaultMaxDepth},
		track:   newTracker(),
		workers: make(map[string]*worker),
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&r.opts)
		}
	}
	r.drain, r.stop = context.WithCancelCause(context.Background())
	r.targetChain = newChain(r.opts.interceptors)
	return r
}

func (r *Registry) logger() *slog.Logger {
	if r == nil || r.opts.logger == nil {
		return slog.Default()
	}
	return r.opts.logger
}

// Register adds a worker under name. It fails, naming the worker and the type,
// when a constructor's type does not embed [Entrypoint], when name is taken,
// when a binding name is used twice in the worker, when a Fetch or Scheduled
// method has the wrong signature, or when a cron trigger does not parse or
// has no Scheduled method on the default entrypoint to run. Method tables are
// built here, once, and the worker's cron triggers start.
func (r *Registry) Register(name string, w Worker) error {
	if name == "" {
		return fmt.Errorf("%w: empty worker name", ErrInvalidWorker)
	}
	if r.track.closed() {
		return fmt.Errorf("register worker %q: %w", name, ErrClosed)
	}
	wk := &worker{name: name, reg: r, named: make(map[string]*entrypoint, len(w.Entrypoints)),
		chain: newChain(r.opts.interceptors, w.Interceptors)}
	if !w.Default.IsZero() {
		ep, err := newEntrypoint(wk, "", w.Default)
		if err != nil {
			return fmt.Errorf("register worker %q: default entrypoint: %w", name, err)
		}
		wk.def = ep
	}
	for _, epName := range sortedKeys(w.Entrypoints) {
		if epName == "" || epName == "default" {
			return fmt.Errorf("register worker %q: %w: named entrypoint %q: use Worker.Default for the default entrypoint", name, ErrInvalidWorker, epName)
		}
		ep, err := newEntrypoint(wk, epName, w.Entrypoints[epName])
		if err != nil {
			return fmt.Errorf("register worker %q: entrypoint %q: %w", name, epName, err)
		}
		wk.named[epName] = ep
	}
	scheds, err := checkCrons(name, w.Crons, wk.def)
	if err != nil {
		return err
	}
	classes, err := newClasses(wk, &w)
	if err != nil {
		return fmt.Errorf("register worker %q: %w", name, err)
	}
	wk.classes = classes
	env, err := newEnv(r, name, &w)
	if err != nil {
		return err
	}
	wk.env = env
	wk.services = append([]Service(nil), w.Services...)

	r.mu.Lock()
	if _, dup := r.workers[name]; dup {
		r.mu.Unlock()
		return fmt.Errorf("%w: a worker named %q is already registered", ErrInvalidWorker, name)
	}
	r.workers[name] = wk
	r.mu.Unlock()
	r.startCrons(wk, w.Crons, scheds)
	r.startClasses(wk, w.stateDir)
	return nil
}

var (
	// excluded are the names no RPC call may reach: everything promoted from
	// Entrypoint, Fetch, which is HTTP only, and Scheduled, which the
	// registry's cron triggers call.
	excluded = func() map[string]bool {
		m := map[string]bool{"Fetch": true, "Scheduled": true}
		for i := range reflect.PointerTo(entrypointType).NumMethod() {
			m[reflect.PointerTo(entrypointType).Method(i).Name] = true
		}
		return m
	}()
)

// excludedFor adds to excluded the methods t gets by embedding a type of the
// standard library (a sync.Mutex's Lock, a bytes.Buffer's Write): those are
// not the worker's RPC surface. Methods of the user's own embedded types stay.
func excludedFor(t reflect.Type) map[string]bool { return excludedFrom(t, excluded) }

// excludedFrom is excludedFor with another base set, for RPC targets.
func excludedFrom(t reflect.Type, base map[string]bool) map[string]bool {
	var out map[string]bool
	seen := map[reflect.Type]bool{}
	level := []reflect.Type{t}
	for len(level) > 0 {
		var next []reflect.Type
		for _, st := range level {
			for i := range st.NumField() {
				f := st.Field(i)
				if !f.Anonymous {
					continue
				}
				et := f.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et == entrypointType || seen[et] {
					continue
				}
				seen[et] = true
				if !isStd(et.PkgPath(), t.PkgPath()) {
					if et.Kind() == reflect.Struct {
						next = append(next, et)
					}
					continue
				}
				if out == nil {
					out = maps.Clone(base)
				}
				ms := reflect.PointerTo(et)
				if et.Kind() == reflect.Interface {
					ms = et
				}
				for j := range ms.NumMethod() {
					out[ms.Method(j).Name] = true
				}
			}
		}
		level = next
	}
	if out == nil {
		return base
	}
	return out
}

// isStd reports whether pkg looks like a standard library package from the
// point of view of code in user: no dot in its first path element, and not
// under the user's own first element (a module named "myapp" has no dot).
func isStd(pkg, user string) bool {
	root, _, _ := strings.Cut(pkg, "/")
	userRoot, _, _ := strings.Cut(user, "/")
	return pkg != "" && !strings.Contains(root, ".") && root != userRoot
}

func newEntrypoint(wk *worker, name string, c Constructor) (*entrypoint, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	ptr := reflect.PointerTo(c.typ)
	ep := &entrypoint{worker: wk, track: wk.reg.track, name: name, ctor: c, table: method.Build(ptr, excludedFor(c.typ))}
	markPlain(ep.table)
	if err := attachDispatch(ep); err != nil {
		return nil, err
	}
	if m, ok := ptr.MethodByName("Fetch"); ok {
		if _, ok := reflect.Zero(ptr).Interface().(fetcher); !ok {
			return nil, fmt.Errorf("%w: type %s: method %s must be Fetch(*http.Request) (*http.Response, error)", ErrInvalidWorker, c.typ, m.Type)
		}
		ep.fetch = true
	}
	if m, ok := ptr.MethodByName("Scheduled"); ok {
		if _, ok := reflect.Zero(ptr).Interface().(scheduler); !ok {
			return nil, fmt.Errorf("%w: type %s: method %s must be Scheduled(context.Context, workers.ScheduledEvent) error", ErrInvalidWorker, c.typ, m.Type)
		}
		ep.scheduled = true
	}
	ep.display = fmt.Sprintf("service %q", wk.name)
	if name != "" {
		ep.display += fmt.Sprintf(" entrypoint %q", name)
	}
	return ep, nil
}

// Bind returns a Binding to a service, as a caller outside any worker (a
// test, a host application) would hold. It resolves lazily: an unknown
// service or entrypoint fails on use, so workers may be registered in any
// order.
func (r *Registry) Bind(s Service) *Binding {
	return &Binding{reg: r, svc: s}
}

// lookup finds the entrypoint a service binding targets.
func (r *Registry) lookup(s Service, from string) (*entrypoint, error) {
	r.mu.RLock()
	wk := r.workers[s.Service]
	r.mu.RUnlock()
	if wk == nil {
		return nil, newError(ErrServiceNotFound, "%sservice %q is not registered%s", bindingPrefix(s, from), s.Service, r.known())
	}
	if wk.remote != nil {
		ep := s.Entrypoint
		if ep == "default" {
			ep = ""
		}
		return wk.remoteEntrypoint(ep), nil
	}
	if s.Entrypoint == "" || s.Entrypoint == "default" {
		if wk.def == nil {
			return nil, newError(ErrEntrypointNotFound, "%sservice %q has no default entrypoint%s", bindingPrefix(s, from), s.Service, namedList(wk))
		}
		return wk.def, nil
	}
	ep := wk.named[s.Entrypoint]
	if ep == nil {
		return nil, newError(ErrEntrypointNotFound, "%srefers to service %q with a named entrypoint %q, but %q has no such named entrypoint%s",
			bindingPrefix(s, from), s.Service, s.Entrypoint, s.Service, namedList(wk))
	}
	return ep, nil
}

func bindingPrefix(s Service, from string) string {
	switch {
	case from != "":
		return fmt.Sprintf("worker %q binding %q: ", from, s.Binding)
	case s.Binding != "":
		return fmt.Sprintf("binding %q: ", s.Binding)
	}
	return ""
}

func namedList(wk *worker) string {
	if len(wk.named) == 0 {
		return ""
	}
	return fmt.Sprintf(" (named entrypoints: %v)", sortedKeys(wk.named))
}

func (r *Registry) known() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.workers) == 0 {
		return " (no workers are registered)"
	}
	return fmt.Sprintf(" (registered: %v)", sortedKeys(r.workers))
}

// Validate checks every service binding of every worker and returns all the
// dangling ones joined, each naming the binding, its worker and the missing
// service or entrypoint; nil when all resolve. Call it once everything is
// registered, as Workers checks a deployment.
func (r *Registry) Validate() error {
	r.mu.RLock()
	names := sortedKeys(r.workers)
	wks := make([]*worker, len(names))
	for i, n := range names {
		wks[i] = r.workers[n]
	}
	r.mu.RUnlock()
	var errs []error
	for _, wk := range wks {
		svcs := append([]Service(nil), wk.services...)
		sort.Slice(svcs, func(i, j int) bool { return svcs[i].Binding < svcs[j].Binding })
		for _, s := range svcs {
			if _, err := r.lookup(s, wk.name); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, r.validateDurable(wk)...)
	}
	return errors.Join(errs...)
}

// Close stops the registry: cron triggers stop, new calls fail with
// [ErrClosed], and Close waits for in-flight calls (scheduled events among
// them) and WaitUntil tasks to finish. If ctx ends first,
// Close cancels the tasks' contexts, with a cause ([context.Cause]) that
// wraps ErrClosed, and returns an error that wraps ctx's and says how much
// is still running. Bindings the registry opened itself (D1 databases from
// [Registry.RegisterConfig], a Transport that is an [io.Closer]) are closed
// once the first wait is over, whichever way it ended.
//
// Close may be called again, and concurrently: every call waits, as long as
// its own ctx allows, for what is still running, and returns nil once
// nothing is and the bindings are closed (or the error of closing them).
// So after a Close that gave up, Close(context.Background()) returns once
// the canceled tasks have returned, and never if one ignores its ctx.
func (r *Registry) Close(ctx context.Context) error {
	r.stopCrons()
	idle := r.track.close()
	var err error
	select {
	case <-idle: // nothing to wait for: a done ctx cut nothing short
	default:
		select {
		case <-idle:
		case <-ctx.Done():
			err = fmt.Errorf("workers: Close: calls and WaitUntil tasks still running: %d: %w", r.track.running(), ctx.Err())
		}
	}
	r.stop(errGaveUp)
	r.releaseExports()
	r.closeOnce.Do(func() {
		r.mu.Lock()
		closers := r.closers
		r.closers = nil
		r.mu.Unlock()
		for i := len(closers) - 1; i >= 0; i-- {
			r.closeErr = errors.Join(r.closeErr, closers[i].Close())
		}
	})
	return errors.Join(err, r.closeErr)
}

// errGaveUp is the cause with which Close cancels the tasks it stopped
// waiting for.
var errGaveUp = newError(ErrClosed, "the registry is closed and Close stopped waiting for its tasks")
