package workers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-29c11ff2/workers/internal/dostore"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/method"
)

// DurableObject is the base every Durable Object class embeds, as a Workers
// class extends DurableObject:
//
//	type Counter struct {
//		workers.DurableObject
//		n int // in memory: kept across calls until the object is evicted
//	}
//
//	func (c *Counter) Increment(ctx context.Context) (int, error) { ... }
//
// Register the class in [Worker.DurableObjects] and reach its objects
// through a namespace ([Env.DurableObject]). Unlike an [Entrypoint], one
// instance serves every call to its ID, one call at a time, until it has
// been idle for a while (see [WithDurableObjectIdleTimeout]); then it is
// evicted and made afresh on the next call, its storage intact. The
// runtime fills Env and State before the first call. Nothing of
// DurableObject itself is callable over RPC, nor are Fetch and Alarm: the
// runtime calls Alarm(ctx context.Context) error, when the class has it, at
// the time set with [Storage.SetAlarm].
//
// An object that must load state before its first call, as a Workers
// constructor does inside ctx.blockConcurrencyWhile, implements
// [DurableObjectConstructor]: its Construct runs once each time the instance
// is made (on the first call, and again after an eviction), before any
// call reaches it.
//
// A call chain that comes back to an object it is already in (A calls a
// worker that calls A) runs at once on the same instance, as a nested call
// runs in JavaScript while the outer one awaits, instead of waiting for
// itself. The object recognizes its own call by the context: a method that
// calls out should take a context.Context and pass it on (as it must for
// the depth limit to count), and should not hand it to goroutines that
// outlive the call. A call made with an unrelated context (Background, say)
// from inside the object's own call waits for that call: a deadlock.
type DurableObject struct {
	Env   *Env                // the hosting worker's bindings
	State *DurableObjectState // Workers' this.ctx: the ID, storage, WaitUntil, BlockConcurrencyWhile
}

// DurableObjectConstructor is implemented by a Durable Object class whose
// instances must prepare themselves before their first call: Go's form of
// a Workers constructor that runs
//
//	ctx.blockConcurrencyWhile(async () => { this.value = await ctx.storage.get("value") })
//
// The runtime calls Construct once each time it makes the instance (on the
// object's first call, and again when a call comes after an eviction or a
// reset), with Env and State filled, before any call of the object runs:
// calls that arrive meanwhile wait for it, as behind BlockConcurrencyWhile.
// Its ctx carries the caller's values (metadata, the depth of its call
// chain) but is not canceled when that caller gives up, only when
// [Registry.Close] stops waiting. When Construct fails, the call that made the
// instance and the calls waiting for it fail with its error (a panic as a
// *[PanicError]); the instance is dropped, and the next call makes a new
// one, which runs Construct again. Construct cannot be called over RPC.
//
//	func (c *Counter) Construct(ctx context.Context) error {
//		n, _, err := workers.StorageGet[int](ctx, c.State.Storage(), "n")
//		c.n = n
//		return err
//	}
type DurableObjectConstructor interface {
	Construct(ctx context.Context) error
}

// durableObject is promoted to *T exactly when T embeds one DurableObject
// unambiguously.
func (d *DurableObject) durableObject() *DurableObject { return d }

type embedsDurableObject interface{ durableObject() *DurableObject }

var (
	durableObjectType = reflect.TypeFor[DurableObject]()
	embedsDurableType = reflect.TypeFor[embedsDurableObject]()
	alarmType         = reflect.TypeFor[func(context.Context) error]()
)

// ErrNamespaceNotFound: a Durable Object namespace binding that does not
// resolve: the Env has no such binding, or the worker it names exports no
// such class.
var ErrNamespaceNotFound = errors.New("workers: durable object namespace not found")

// DurableObjectBinding binds a Durable Object namespace into a worker's Env,
// as a [[durable_objects.bindings]] entry does.
type DurableObjectBinding struct {
	Name       string // the name in the worker's Env
	ClassName  string // the class, a key of the hosting worker's Worker.DurableObjects
	ScriptName string // the worker that exports the class; "" = this worker
}

// Durable Object defaults, as Workers behaves.
const (
	// DefaultDurableObjectIdleTimeout is how long an object stays in
	// memory without calls before it is evicted.
	DefaultDurableObjectIdleTimeout = time.Minute
	// DefaultAlarmBackoff is the delay before the first retry of a failed
	// Alarm; each retry waits twice as long as the one before.
	DefaultAlarmBackoff = 2 * time.Second
	// AlarmRetries is how many times a failed Alarm is retried, as Workers
	// retries it.
	AlarmRetries = 6
)

// WithDurableObjectIdleTimeout sets how long a Durable Object stays in
// memory without calls (nor WaitUntil tasks) before it is evicted; its next
// call makes it afresh. The default is [DefaultDurableObjectIdleTimeout].
func WithDurableObjectIdleTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.doIdle = d
		}
	})
}

// WithAlarmBackoff sets the delay before the first retry of a failed
// Alarm; later retries double it. The default is [DefaultAlarmBackoff].
func WithAlarmBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.alarmBackoff = d
		}
	})
}

// WithDurableObjectSyncFull makes every commit of Durable Object storage
// wait for the disk (SQLite's synchronous=FULL), so that it survives a
// power loss as well as a crash of the process. By default a commit
// survives a crash of the process (a SIGKILL, a panic) but the last ones
// may be lost when the machine loses power, which makes a Put several
// times cheaper.
func WithDurableObjectSyncFull() Option {
	return optionFunc(func(o *options) { o.doSyncFull = true })
}

// doClass is one registered Durable Object class: its constructor, method
// table and live objects.
type doClass struct {
	reg     *Registry
	worker  string
	name    string
	key     [sha256.Size]byte
	ep      *entrypoint // the class's method table and name in messages, as for an RpcTarget
	alarm   *method.Method
	init    bool // the class is a DurableObjectConstructor
	env     *Env
	dir     string // the class's directory: one <id>.sqlite per object
	display string

	mu       sync.Mutex
	actors   map[[idBytes]byte]*actor
	timers   map[[idBytes]byte]*alarmTimer
	index    *dostore.Index
	sweeping bool
	tick     int64 // counts the sweeper's ticks: the idle clock of the actors
	closed   bool
	stop     chan struct{}
	swept    sync.WaitGroup
}

// newClass checks the constructor of class and builds its method table.
func newClass(wk *worker, class string, c Constructor) (*doClass, error) {
	if class == "" {
		return nil, fmt.Errorf("%w: a Durable Object class has an empty name", ErrInvalidWorker)
	}
	if err := checkDurable(c); err != nil {
		return nil, fmt.Errorf("durable object class %q: %w", class, err)
	}
	ptr := reflect.PointerTo(c.typ)
	exclude := maps.Clone(excludedFor(c.typ))
	exclude["Alarm"] = true
	exclude["Construct"] = true
	display := fmt.Sprintf("durable object %q of service %q", class, wk.name)
	ep := &entrypoint{worker: wk, track: wk.reg.track, name: class, ctor: c, table: method.Build(ptr, exclude), display: display}
	markPlain(ep.table)
	if err := attachDispatch(ep); err != nil {
		return nil, fmt.Errorf("durable object class %q: %w", class, err)
	}
	cls := &doClass{
		reg:     wk.reg,
		worker:  wk.name,
		name:    class,
		key:     namespaceKey(wk.name, class),
		ep:      ep,
		display: display,
		actors:  map[[idBytes]byte]*actor{},
		timers:  map[[idBytes]byte]*alarmTimer{},
		stop:    make(chan struct{}),
	}
	if m, ok := ptr.MethodByName("Alarm"); ok {
		if m.Type.NumIn() != 2 || m.Type.In(1) != alarmType.In(0) || m.Type.NumOut() != 1 || m.Type.Out(0) != alarmType.Out(0) {
			return nil, fmt.Errorf("durable object class %q: %w: type %s: method Alarm%s must be Alarm(ctx context.Context) error",
				class, ErrInvalidWorker, c.typ, strings.TrimPrefix(m.Type.String(), "func("+ptr.String()))
		}
		cls.alarm = &method.Method{Name: "Alarm", Func: m.Func, Type: m.Type, Ctx: true, Error: true}
	}
	if m, ok := ptr.MethodByName("Construct"); ok {
		if !ptr.Implements(reflect.TypeFor[DurableObjectConstructor]()) {
			return nil, fmt.Errorf("durable object class %q: %w: type %s: method Construct%s must be Construct(ctx context.Context) error (see workers.DurableObjectConstructor)",
				class, ErrInvalidWorker, c.typ, strings.TrimPrefix(m.Type.String(), "func("+ptr.String()))
		}
		cls.init = true
	}
	return cls, nil
}

// checkDurable reports why c cannot make a Durable Object, naming the type.
func checkDurable(c Constructor) error {
	if c.bad != "" {
		return fmt.Errorf("%w: %s", ErrInvalidWorker, c.bad)
	}
	if c.typ == nil || (c.alloc == nil && c.fn == nil) {
		return fmt.Errorf("%w: empty Constructor: make one with workers.New or workers.NewFunc", ErrInvalidWorker)
	}
	if c.typ.Kind() != reflect.Struct {
		return fmt.Errorf("%w: type %s is not a struct embedding workers.DurableObject", ErrInvalidWorker, c.typ)
	}
	if !reflect.PointerTo(c.typ).Implements(embedsDurableType) {
		return fmt.Errorf("%w: type %s does not embed workers.DurableObject", ErrInvalidWorker, c.typ)
	}
	if viaPointer, ok := findEmbedded(c.typ, durableObjectType); !ok || viaPointer {
		return fmt.Errorf("%w: type %s embeds *workers.DurableObject; embed workers.DurableObject by value so each object gets its own", ErrInvalidWorker, c.typ)
	}
	if _, ok := findEmbedded(c.typ, entrypointType); ok {
		return fmt.Errorf("%w: type %s embeds both workers.DurableObject and workers.Entrypoint; a Durable Object class embeds only workers.DurableObject", ErrInvalidWorker, c.typ)
	}
	return nil
}

// findEmbedded looks for an embedded target breadth first, as Go's
// promotion rules do, and says whether it is reached through a
// pointer. Entrypoint and DurableObject are found with it.
func findEmbedded(t, target reflect.Type) (viaPointer, ok bool) {
	type node struct {
		t   reflect.Type
		ptr bool
	}
	level := []node{{t: t}}
	seen := map[reflect.Type]bool{}
	for len(level) > 0 {
		var next []node
		for _, n := range level {
			if seen[n.t] {
				continue
			}
			seen[n.t] = true
			for i := range n.t.NumField() {
				f := n.t.Field(i)
				if !f.Anonymous {
					continue
				}
				ft, ptr := f.Type, n.ptr
				if ft.Kind() == reflect.Pointer {
					ft, ptr = ft.Elem(), true
				}
				if ft == target {
					return ptr, true
				}
				if ft.Kind() == reflect.Struct {
					next = append(next, node{t: ft, ptr: ptr})
				}
			}
		}
		level = next
	}
	return false, false
}

// newClasses checks and builds the classes of w.
func newClasses(wk *worker, w *Worker) (map[string]*doClass, error) {
	if len(w.DurableObjects) == 0 {
		return nil, nil
	}
	out := make(map[string]*doClass, len(w.DurableObjects))
	for _, name := range sortedKeys(w.DurableObjects) {
		cls, err := newClass(wk, name, w.DurableObjects[name])
		if err != nil {
			return nil, err
		}
		out[name] = cls
	}
	return out, nil
}

// startClasses gives the classes of a registered worker their Env and
// directory and schedules the alarms their objects had set, before a
// restart too. It is called once the worker is registered.
func (r *Registry) startClasses(wk *worker, stateDir string) {
	if len(wk.classes) == 0 {
		return
	}
	if stateDir == "" {
		stateDir = r.opts.stateDir
	}
	if stateDir == "" {
		stateDir = filepath.Join(".wrangler", "state")
	}
	for _, name := range sortedKeys(wk.classes) {
		cls := wk.classes[name]
		cls.env = wk.env
		cls.dir = filepath.Join(stateDir, "do", unsafeName.ReplaceAllString(wk.name+"-"+name, "_"))
		r.mu.Lock()
		r.closers = append(r.closers, cls)
		r.mu.Unlock()
		if cls.alarm != nil {
			cls.loadAlarms()
		}
	}
}

func (c *doClass) idleTimeout() time.Duration {
	if d := c.reg.opts.doIdle; d > 0 {
		return d
	}
	return DefaultDurableObjectIdleTimeout
}

func (c *doClass) storeOptions() dostore.Options {
	return dostore.Options{SyncFull: c.reg.opts.doSyncFull}
}

// Close stops the class's alarms and closes its objects' files. The
// registry calls it once its calls have drained.
func (c *doClass) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	for _, t := range c.timers {
		t.timer.Stop()
	}
	c.timers = nil
	actors := c.actors
	c.actors = map[[idBytes]byte]*actor{}
	index := c.index
	c.index = nil
	c.mu.Unlock()
	c.swept.Wait()
	var errs []error
	for _, a := range actors {
		errs = append(errs, a.storage.close())
	}
	if index != nil {
		errs = append(errs, index.Close())
	}
	return errors.Join(errs...)
}

// actor is the live object of one ID: its instance, made on its first
// call, and the turn that lets one call run at a time.
type actor struct {
	cls     *doClass
	id      DurableObjectID
	turn    gate // held while a call runs
	state   DurableObjectState
	storage Storage
	inst    any         // the *T; nil until made
	broken  atomic.Bool // BlockConcurrencyWhile failed: reset the object after this call
	failed  error       // Construct failed: the calls that waited for it fail so (written under the turn)
	// tasks is the test kit's group of the call running, if its context
	// has one (see link.WithTasks): WaitUntil counts its tasks there.
	tasks atomic.Pointer[link.Tasks]
	// cur is the turn of the call that holds the object (when it has a
	// context to pass on), so that a peer's call inside it, carrying its
	// token, runs (see link.WithTurns).
	cur atomic.Pointer[turn]

	// Guarded by cls.mu.
	users int         // calls running or waiting, WaitUntil tasks
	last  int64       // the sweeper's tick when users last fell to 0
	dead  atomic.Bool // evicted or reset: no longer in cls.actors (stored under cls.mu)
}

// hold finds or makes the actor of id and counts a user of it.
func (c *doClass) hold(id DurableObjectID) (*actor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, newError(ErrClosed, "%s: the registry is closed", c.display)
	}
	a := c.actors[id.raw]
	if a == nil {
		a = &actor{cls: c, id: id}
		a.state = DurableObjectState{a: a}
		a.storage = Storage{a: a}
		c.actors[id.raw] = a
		if !c.sweeping {
			c.sweeping = true
			c.swept.Add(1)
			go c.sweep()
		}
	}
	a.users++
	return a, nil
}

// holdLive counts a user of a, unless it is dead.
func (c *doClass) holdLive(a *actor) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.dead.Load() || c.closed {
		return false
	}
	a.users++
	return true
}

// release ends a use of a. The last user of a dead actor closes its file.
func (c *doClass) release(a *actor) {
	c.mu.Lock()
	a.users--
	closeNow := a.users == 0 && a.dead.Load()
	if a.users == 0 {
		a.last = c.tick
	}
	c.mu.Unlock()
	if closeNow {
		c.closeStorage(a)
	}
}

// reset drops a from the live objects: its next call makes a new one.
func (c *doClass) reset(a *actor) {
	c.mu.Lock()
	if !a.dead.Load() {
		a.dead.Store(true)
		if c.actors[a.id.raw] == a {
			delete(c.actors, a.id.raw)
		}
	}
	c.mu.Unlock()
}

func (c *doClass) closeStorage(a *actor) {
	if err := a.storage.close(); err != nil {
		c.reg.logger().Error("workers: durable object storage did not close", "object", c.display, "id", a.id.String(), "error", err)
	}
}

// sweep evicts the objects that have been idle for the idle timeout. It
// runs while the class has live objects.
func (c *doClass) sweep() {
	defer c.swept.Done()
	idle := c.idleTimeout()
	every := max(idle/4, time.Millisecond)
	ticks := int64((idle + every - 1) / every) // idle, in ticks
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		var evicted []*actor
		c.mu.Lock()
		c.tick++
		for k, a := range c.actors {
			if a.users == 0 && c.tick-a.last > ticks {
				a.dead.Store(true)
				delete(c.actors, k)
				evicted = append(evicted, a)
			}
		}
		done := len(c.actors) == 0
		if done {
			c.sweeping = false
		}
		c.mu.Unlock()
		for _, a := range evicted {
			c.closeStorage(a)
		}
		if done {
			return
		}
	}
}

// turn marks a call in progress on an object in the contexts of that call,
// so that a call chain that comes back to the object runs instead of
// waiting for itself.
type turn struct {
	a      *actor
	parent *turn
	done   atomic.Bool
	// token names the turn across processes: given when a call first
	// leaves the process inside it (link.TurnTokens), nil until then.
	token atomic.Pointer[string]
}

// tokenOf returns t's token, giving it one on first use.
func (t *turn) tokenOf() string {
	if p := t.token.Load(); p != nil {
		return *p
	}
	s := link.NewTurnToken()
	if t.token.CompareAndSwap(nil, &s) {
		return s
	}
	return *t.token.Load()
}

// turnTokens is link.TurnTokens: the tokens of the turns in progress of
// ctx's chain, the closest first.
func turnTokens(ctx context.Context, dst []string) []string {
	for t := turnOf(ctx); t != nil && len(dst) < link.MaxTurns; t = t.parent {
		if !t.done.Load() {
			dst = append(dst, t.tokenOf())
		}
	}
	return dst
}

func init() { link.TurnTokens = turnTokens }

// inPeerTurn reports whether ctx is a peer's call made inside a's current
// turn: it carries the token of that turn, which it can have only from a
// call the turn made (or a guess: tokens are random, but they are no
// security boundary; a call that guessed one would run inside that turn).
func (a *actor) inPeerTurn(ctx context.Context) bool {
	t := a.cur.Load()
	if t == nil {
		return false
	}
	p := t.token.Load()
	return p != nil && !t.done.Load() && link.InTurn(ctx, *p)
}

type turnKey struct{}

// holds reports whether t, or a call it runs inside, is a call still in
// progress on a.
func (t *turn) holds(a *actor) bool {
	for ; t != nil; t = t.parent {
		if t.a == a && !t.done.Load() {
			return true
		}
	}
	return false
}

func turnOf(ctx context.Context) *turn {
	if isRoot(ctx) {
		return nil
	}
	t, _ := ctx.Value(turnKey{}).(*turn)
	return t
}

// turnCtx carries a call's turn in its context.
type turnCtx struct {
	context.Context
	t turn
}

func (c *turnCtx) Value(key any) any {
	if _, ok := key.(turnKey); ok {
		return &c.t
	}
	return c.Context.Value(key)
}

// callCtx is the Ctx of one call on a Durable Object, with its turn: one
// allocation for both.
type callCtx struct {
	c  Ctx // first, as a Ctx must be
	tc turnCtx
}

// method finds an RPC method of the class, or says precisely why there is
// none.
func (c *doClass) method(name string) (*method.Method, error) {
	if m := c.ep.table.Methods[name]; m != nil && m.Problem == "" {
		return m, nil
	}
	switch name {
	case "Fetch":
		return nil, newError(ErrReservedMethod, "%s: 'Fetch' is a reserved method and cannot be called over RPC", c.display)
	case "Alarm":
		return nil, newError(ErrReservedMethod, "%s: 'Alarm' is a reserved method and cannot be called over RPC; the runtime calls it when the alarm set with Storage.SetAlarm is due", c.display)
	case "Construct":
		if c.init {
			return nil, newError(ErrReservedMethod, "%s: 'Construct' is a reserved method and cannot be called over RPC; the runtime calls it when it makes the object", c.display)
		}
	}
	return c.ep.method(name)
}

// call runs method on the object id with every rule of a binding call, as
// a call on an RpcTarget does, except that it waits for the object's turn.
func (c *doClass) call(ctx context.Context, t *durableTarget, name string, args []any, result reflect.Type) (out any, err error) {
	ep := c.ep
	m, _, in, rin, sc, err := ep.prepare(&t.m, c.method, nil, name, args, result)
	if err != nil {
		return nil, err
	}
	if sc != nil {
		defer sc.End() // after the method returns, not before
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var inv link.Invocation
	if err := c.reg.open(ctx, nil, ep, name, &inv); err != nil {
		return nil, err
	}
	var cc *callCtx // what a method with a context parameter and its nested calls see
	if m.Ctx || m.Fast == nil {
		cc = &callCtx{c: Ctx{inv: inv}}
	}
	var cx *Ctx
	if cc != nil {
		cx = &cc.c
	}
	defer ep.finishTarget(cx, &inv, name, &err)
	parent := turnOf(ctx)
	a, own, err := c.enter(ctx, t, parent, name)
	if err != nil {
		return nil, err
	}
	defer c.exit(a, own)
	var group *link.Tasks
	if link.TasksInUse() && !isRoot(ctx) {
		group = link.TasksOf(ctx)
	}
	if group != nil || a.tasks.Load() != nil {
		defer a.tasks.Store(a.tasks.Swap(group))
	}
	if cc != nil {
		// Only a method with a context can pass the call's turn on.
		cc.tc = turnCtx{Context: cc.c.inv.Parent, t: turn{a: a, parent: parent}}
		cc.c.inv.Parent = &cc.tc
		if own {
			a.cur.Store(&cc.tc.t)
			defer a.cur.Store(nil)
		}
		defer cc.tc.t.done.Store(true)
	}
	if a.inst == nil {
		if err := a.build(ctx); err != nil {
			return nil, err
		}
	}
	if m.Fast == nil {
		return ep.callReflect(ctx, cx, m, a.inst, rin)
	}
	res, err := m.Fast(a.inst, cx, in)
	if err != nil || m.Result == nil {
		return nil, err
	}
	return ep.result(ctx, m, res)
}

// enter finds the object of id and takes its turn; own is false when ctx
// is a call on it in progress already (parent holds it, or ctx is a peer's
// call carrying its current turn's token), which runs without waiting.
func (c *doClass) enter(ctx context.Context, t *durableTarget, parent *turn, what string) (a *actor, own bool, err error) {
	for {
		if a = t.last.Load(); a == nil || !c.holdLive(a) {
			if a, err = c.hold(t.id); err != nil {
				return nil, false, err
			}
			t.last.Store(a)
		}
		if parent.holds(a) || a.inPeerTurn(ctx) {
			return a, false, nil
		}
		if err := a.wait(ctx, what); err != nil {
			c.release(a)
			return nil, false, err
		}
		if !a.dead.Load() {
			return a, true, nil
		}
		failed := a.failed
		a.turn.release() // reset while we waited: try the new one
		c.release(a)
		if failed != nil {
			return nil, false, failed // its Construct failed: as the call that ran it
		}
	}
}

// exit ends what enter began.
func (c *doClass) exit(a *actor, own bool) {
	if own {
		a.leave()
	}
	c.release(a)
}

// wait takes the object's turn, or gives up when ctx ends or the registry
// stops waiting for calls.
func (a *actor) wait(ctx context.Context, what string) error {
	switch a.turn.acquire(ctx, a.cls.reg.drain) {
	case nil:
		return nil
	case a.cls.reg.drain:
		return newError(ErrClosed, "%s method %q: the registry closed while the call waited for the object", a.cls.display, what)
	}
	return &callError{kind: ctx.Err(), msg: fmt.Sprintf("workers: %s method %q: %v while waiting for the object's other calls", a.cls.display, what, ctx.Err())}
}

// gate lets one holder in at a time, the others in turn as they came; a
// waiter may give up. It costs an uncontended call two mutex operations,
// where a channel's would take the runtime's lock twice.
type gate struct {
	mu   sync.Mutex
	held bool
	q    []chan struct{} // waiters, first come first
}

// acquire takes the gate, or returns the first of ctx and stop to end
// before it could.
func (g *gate) acquire(ctx, stop context.Context) context.Context {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.q = append(g.q, ch)
	g.mu.Unlock()
	var gaveUp context.Context
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		gaveUp = ctx
	case <-stop.Done():
		gaveUp = stop
	}
	g.mu.Lock()
	for i, w := range g.q {
		if w == ch {
			g.q = append(g.q[:i], g.q[i+1:]...)
			g.mu.Unlock()
			return gaveUp
		}
	}
	g.mu.Unlock()
	g.release() // handed over meanwhile: pass it on
	return gaveUp
}

// release hands the gate to the first waiter, or opens it.
func (g *gate) release() {
	g.mu.Lock()
	if len(g.q) == 0 {
		g.held = false
		g.mu.Unlock()
		return
	}
	ch := g.q[0]
	g.q = g.q[1:]
	g.mu.Unlock()
	close(ch)
}

// leave gives the turn back, resetting the object first when a
// BlockConcurrencyWhile of this call failed.
func (a *actor) leave() {
	if a.broken.Load() {
		a.cls.reset(a)
	}
	a.turn.release()
}

// build makes the object's instance, with Env and State filled, and runs
// its Construct. It may run user code (a NewFunc constructor): call it where
// panics are recovered. The caller holds the object's turn.
func (a *actor) build(ctx context.Context) error {
	c := a.cls
	ctor := c.ep.ctor
	var p any
	if ctor.fn != nil {
		if p = ctor.fn(); p == nil {
			return fmt.Errorf("workers: %s: the constructor of %s returned nil", c.display, ctor.typ)
		}
	} else {
		p = reflect.New(ctor.typ).Interface()
	}
	base := p.(embedsDurableObject).durableObject()
	base.Env, base.State = c.env, &a.state
	if c.init {
		if err := a.initialize(ctx, p.(DurableObjectConstructor)); err != nil {
			// Not kept: the calls waiting for it fail so, and the next
			// call makes a new one.
			a.failed = err
			c.reset(a)
			return err
		}
	}
	a.inst = p
	return nil
}

// initialize runs the Construct of the new instance p, within the object's
// turn: calls of p itself that Construct makes (through its namespace, or
// BlockConcurrencyWhile) run at once instead of waiting for it.
func (a *actor) initialize(ctx context.Context, p DurableObjectConstructor) (err error) {
	c := a.cls
	if ctx == nil {
		ctx = context.Background()
	}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(c.reg.drain, cancel)()
	tc := &turnCtx{Context: ictx, t: turn{a: a, parent: turnOf(ctx)}}
	defer tc.t.done.Store(true)
	defer func() {
		if v := recover(); v != nil {
			err = c.ep.panicked("Construct", v)
		}
		if err != nil {
			err = &callError{kind: err, msg: fmt.Sprintf("workers: %s id %s: Construct: %v", c.display, a.id, err)}
		}
	}()
	return p.Construct(tc)
}

// DurableObjectState is a Durable Object's own context, Workers'
// DurableObjectState (this.ctx): its ID, its storage, and the means to run
// work beside its calls.
type DurableObjectState struct {
	a *actor
}

// ID returns the object's ID.
func (s *DurableObjectState) ID() DurableObjectID {
	if s == nil || s.a == nil {
		return DurableObjectID{}
	}
	return s.a.id
}

// Storage returns the object's storage.
func (s *DurableObjectState) Storage() *Storage {
	if s == nil || s.a == nil {
		return &Storage{}
	}
	return &s.a.storage
}

// WaitUntil runs task in the background, starting now, as Workers'
// ctx.waitUntil: the call that started it returns without waiting, the
// object is not evicted while the task runs, and [Registry.Close] waits for
// it. The task runs beside the object's calls, not inside one: guard what
// it shares with them, or call the object through its namespace (such a
// call waits for its turn). Its context is canceled when the wait of Close
// runs out. A task's error or panic is logged (see [WithLogger]).
func (s *DurableObjectState) WaitUntil(task func(ctx context.Context) error) {
	if task == nil {
		return
	}
	if s == nil || s.a == nil {
		go func() { _ = runTask(context.Background(), nil, nil, task) }()
		return
	}
	a := s.a
	c, r := a.cls, a.cls.reg
	if !r.track.addTask() {
		r.logger().Error("workers: WaitUntil after Close; task not started", "object", c.display)
		return
	}
	live := c.holdLive(a)
	group := a.tasks.Load()
	r.tasks.Add()
	if group != nil {
		group.Add()
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(r.drain, cancel)
	go func() {
		defer r.track.done()
		defer cancel()
		defer stop()
		if live {
			defer c.release(a)
		}
		err := runTask(ctx, r, c.ep, task)
		r.tasks.Done(nil)
		if group != nil {
			group.Done(err)
		}
	}()
}

// BlockConcurrencyWhile runs fn while no call of the object runs, as
// Workers' blockConcurrencyWhile: calls that arrive meanwhile wait until it
// returns. Within a call of the object (ctx is the call's context) fn runs
// at once, the call holding the object already; from a WaitUntil task or
// another goroutine it waits for the running call first. If fn fails or
// panics, the error (a panic as *[PanicError]) is returned and the object
// is reset, as Workers resets it: its next call makes a new instance. For
// what a Workers constructor does with it (load state before the first
// call), implement [DurableObjectConstructor].
func (s *DurableObjectState) BlockConcurrencyWhile(ctx context.Context, fn func(context.Context) error) error {
	if s == nil || s.a == nil || fn == nil {
		return errors.New("workers: BlockConcurrencyWhile: not a live Durable Object, or nil fn")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	a := s.a
	c := a.cls
	if parent := turnOf(ctx); parent.holds(a) {
		err := a.block(ctx, fn)
		if err != nil {
			a.broken.Store(true)
		}
		return err
	}
	if !c.holdLive(a) {
		return newError(ErrDisposed, "%s: BlockConcurrencyWhile: the object was evicted or reset", c.display)
	}
	defer c.release(a)
	if err := a.wait(ctx, "BlockConcurrencyWhile"); err != nil {
		return err
	}
	tc := &turnCtx{Context: ctx, t: turn{a: a, parent: turnOf(ctx)}}
	err := a.block(tc, fn)
	tc.t.done.Store(true)
	if err != nil {
		a.broken.Store(true)
	}
	a.leave()
	return err
}

func (a *actor) block(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack(), where: a.cls.display + " BlockConcurrencyWhile"}
		}
	}()
	return fn(ctx)
}
