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
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/seed-29c11ff2/workers/internal/cell"
	"github.com/seed-29c11ff2/workers/internal/clone"
	"github.com/seed-29c11ff2/workers/internal/dostore"
	"github.com/seed-29c11ff2/workers/internal/method"
	"github.com/seed-29c11ff2/workers/internal/shim"
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
	ctor    Constructor
	base    uintptr // where DurableObject lies in a T
	table   *method.Table
	methods map[string]*doMethod // the callable ones of table
	alarm   *doMethod            // nil when the class has no Alarm
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
	cls := &doClass{
		reg:     wk.reg,
		worker:  wk.name,
		name:    class,
		key:     namespaceKey(wk.name, class),
		ctor:    c,
		base:    durableOffset(c.typ),
		table:   method.Build(ptr, exclude),
		display: fmt.Sprintf("durable object %q of service %q", class, wk.name),
		actors:  map[[idBytes]byte]*actor{},
		timers:  map[[idBytes]byte]*alarmTimer{},
		stop:    make(chan struct{}),
	}
	if m, ok := ptr.MethodByName("Alarm"); ok {
		if m.Type.NumIn() != 2 || m.Type.In(1) != alarmType.In(0) || m.Type.NumOut() != 1 || m.Type.Out(0) != alarmType.Out(0) {
			return nil, fmt.Errorf("durable object class %q: %w: type %s: method Alarm%s must be Alarm(ctx context.Context) error",
				class, ErrInvalidWorker, c.typ, m.Type.String()[len("func(*")+len(c.typ.String())+1:])
		}
		cls.alarm = &doMethod{Method: &method.Method{Name: "Alarm", Func: m.Func, Type: m.Type, Ctx: true, Error: true}}
	}
	cls.methods = make(map[string]*doMethod, len(cls.table.Methods))
	for name, m := range cls.table.Methods {
		if m.Problem == "" {
			d := newDoMethod(m)
			d.attachShim(c)
			cls.methods[name] = d
		}
	}
	return cls, nil
}

// doMethod is an RPC method of a class, with what its values need.
type doMethod struct {
	*method.Method
	plain    []bool // per parameter (the variadic one: per element): its values need no copy
	plainOut bool   // the result needs no copy
	allPlain bool   // no parameter needs a copy, and none is variadic
	fast     shim.Func
	bits     cell.Type // fast returns the result as bits of this type
}

func newDoMethod(m *method.Method) *doMethod {
	plain := func(t reflect.Type) bool {
		needs, ok := copier.NeedsCopy(t)
		return ok && !needs && t.Kind() != reflect.Interface
	}
	d := &doMethod{Method: m, plain: make([]bool, len(m.Params))}
	for i, pt := range m.Params {
		if m.Variadic && i == len(m.Params)-1 {
			pt = pt.Elem()
		}
		d.plain[i] = plain(pt)
	}
	d.plainOut = m.Result != nil && plain(m.Result)
	d.allPlain = !m.Variadic
	for _, p := range d.plain {
		d.allPlain = d.allPlain && p
	}
	return d
}

// attachShim gives m a shim of the constructor's type, when its shape has
// one, as a worker's methods get: a call then costs no reflection.
func (d *doMethod) attachShim(c Constructor) {
	if c.shim == nil || len(d.Params) > 2 {
		return
	}
	f, bits := c.shim(d.Func.Interface())
	if f == nil {
		return
	}
	if bits {
		t, ok := cell.TypeOf(d.Result)
		if !ok {
			return
		}
		d.bits = t
	}
	d.fast = f
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
	if _, viaPointer, ok := findEmbedded(c.typ, durableObjectType); !ok || viaPointer {
		return fmt.Errorf("%w: type %s embeds *workers.DurableObject; embed workers.DurableObject by value so each object gets its own", ErrInvalidWorker, c.typ)
	}
	if _, _, ok := findEmbedded(c.typ, entrypointType); ok {
		return fmt.Errorf("%w: type %s embeds both workers.DurableObject and workers.Entrypoint; a Durable Object class embeds only workers.DurableObject", ErrInvalidWorker, c.typ)
	}
	return nil
}

func durableOffset(t reflect.Type) uintptr {
	off, _, _ := findEmbedded(t, durableObjectType)
	return off
}

// findEmbedded looks for an embedded target breadth first, as Go's
// promotion rules do (findEntrypoint's search, for any target type).
func findEmbedded(t, target reflect.Type) (offset uintptr, viaPointer, ok bool) {
	type node struct {
		t   reflect.Type
		ptr bool
		off uintptr
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
					return n.off + f.Offset, ptr, true
				}
				if ft.Kind() == reflect.Struct {
					next = append(next, node{t: ft, ptr: ptr, off: n.off + f.Offset})
				}
			}
		}
		level = next
	}
	return 0, false, false
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
	turn    chan struct{} // holds a token while a call runs
	state   DurableObjectState
	storage Storage
	ptr     unsafe.Pointer // the *T; nil until made
	broken  atomic.Bool    // BlockConcurrencyWhile failed: reset the object after this call

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
		a = &actor{cls: c, id: id, turn: make(chan struct{}, 1)}
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

// callCtx is the context of one call on a Durable Object: the call's depth
// (a Ctx that only carries one) and its turn.
type callCtx struct {
	Ctx
	t turn
}

func (c *callCtx) Value(key any) any {
	if _, ok := key.(turnKey); ok {
		return &c.t
	}
	return c.Ctx.Value(key)
}

// call runs method on the object id with every rule of a binding call.
func (c *doClass) call(ctx context.Context, id DurableObjectID, name string, args []any) (any, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	m, err := c.method(name)
	if err != nil {
		return nil, err
	}
	var in callArgs
	if m.fast != nil {
		in.fast, err = c.fastArguments(m, args)
	} else {
		in.vals, err = c.arguments(m, args)
	}
	if err != nil {
		return nil, err
	}
	depth := 1
	if !isRoot(ctx) {
		if err := ctx.Err(); err != nil {
			return nil, &callError{kind: err, msg: fmt.Sprintf("workers: %s method %q: %v", c.display, name, err)}
		}
		depth += depthOf(ctx)
	}
	if depth > c.reg.opts.maxDepth {
		return nil, newError(ErrDepthExceeded, "%s method %q: Subrequest depth limit exceeded. This request recursed through Workers too many times (limit %d).", c.display, name, c.reg.opts.maxDepth)
	}
	r := c.reg
	var onStack byte
	s := &r.track.shards[r.track.shardFor(unsafe.Pointer(&onStack))]
	if !r.track.begin(s) {
		return nil, newError(ErrClosed, "%s method %q: the registry is closed", c.display, name)
	}
	defer r.track.done(s)
	in.boxes = &s.boxes
	return c.run(ctx, depth, id, m, in)
}

// run waits for the object's turn (unless ctx is a call on it already) and
// calls m.
func (c *doClass) run(ctx context.Context, depth int, id DurableObjectID, m *doMethod, in callArgs) (any, error) {
	parent := turnOf(ctx)
	for {
		a, err := c.hold(id)
		if err != nil {
			return nil, err
		}
		if parent.holds(a) {
			out, err := a.invoke(ctx, depth, parent, m, in)
			c.release(a)
			return out, err
		}
		if err := a.wait(ctx, m.Name); err != nil {
			c.release(a)
			return nil, err
		}
		if a.dead.Load() { // reset while we waited
			<-a.turn
			c.release(a)
			continue
		}
		out, err := a.invoke(ctx, depth, parent, m, in)
		a.leave()
		c.release(a)
		return out, err
	}
}

// wait takes the object's turn, or gives up when ctx ends or the registry
// stops waiting for calls.
func (a *actor) wait(ctx context.Context, what string) error {
	select {
	case a.turn <- struct{}{}:
		return nil
	default:
	}
	select {
	case a.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &callError{kind: ctx.Err(), msg: fmt.Sprintf("workers: %s method %q: %v while waiting for the object's other calls", a.cls.display, what, ctx.Err())}
	case <-a.cls.reg.drain.Done():
		return newError(ErrClosed, "%s method %q: the registry closed while the call waited for the object", a.cls.display, what)
	}
}

// leave gives the turn back, resetting the object first when a
// BlockConcurrencyWhile of this call failed.
func (a *actor) leave() {
	if a.broken.Load() {
		a.cls.reset(a)
	}
	<-a.turn
}

// callArgs are the prepared arguments of a call: for a shim, or for
// reflect.Value.Call, with where to box an 8-byte result.
type callArgs struct {
	fast  shim.Args
	vals  []reflect.Value
	boxes *cell.Boxes
}

// invoke calls m on the object, making its instance first if need be. The
// caller holds the turn.
func (a *actor) invoke(ctx context.Context, depth int, parent *turn, m *doMethod, in callArgs) (out any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack(), where: a.cls.display + " " + what(m.Name)}
		}
	}()
	if a.ptr == nil {
		if err := a.build(); err != nil {
			return nil, err
		}
	}
	mctx := ctx
	if m.Ctx {
		// Only a method with a context can pass the call's depth and turn on.
		cc := &callCtx{Ctx: Ctx{parent: ctx, depth: int16(depth)}}
		cc.t.a, cc.t.parent = a, parent
		defer cc.t.done.Store(true)
		mctx = cc
	}
	var res any
	if m.fast != nil {
		var bits uint64
		res, bits, err = m.fast(a.ptr, mctx, in.fast)
		if err != nil || m.Result == nil {
			return nil, err
		}
		if m.bits.Valid() {
			return in.boxes.Box(m.bits, bits), nil
		}
	} else {
		vals := in.vals
		vals[0] = reflect.NewAt(a.cls.ctor.typ, a.ptr)
		if m.Ctx {
			vals[1] = reflect.ValueOf(mctx)
		}
		rv := m.Func.Call(vals)
		if m.Error {
			if e := rv[len(rv)-1]; !e.IsNil() {
				return nil, e.Interface().(error)
			}
		}
		if m.Result == nil {
			return nil, nil
		}
		res = rv[0].Interface()
	}
	if m.plainOut {
		return res, nil
	}
	v, err := copier.Copy(res)
	if err != nil {
		return nil, newError(ErrInvalidArgument, "%s method %q: result: %v", a.cls.display, m.Name, err)
	}
	return v, nil
}

// build makes the object's instance, with Env and State filled.
func (a *actor) build() error {
	c := a.cls
	var p unsafe.Pointer
	if c.ctor.fn != nil {
		if p = c.ctor.fn(); p == nil {
			return fmt.Errorf("workers: %s: the constructor of %s returned nil", c.display, c.ctor.typ)
		}
	} else {
		p = reflect.New(c.ctor.typ).UnsafePointer()
	}
	base := (*DurableObject)(unsafe.Add(p, c.base))
	base.Env, base.State = c.env, &a.state
	a.ptr = p
	return nil
}

// method finds an RPC method of the class, or says precisely why there is
// none.
func (c *doClass) method(name string) (*doMethod, error) {
	if m := c.methods[name]; m != nil {
		return m, nil
	}
	m := c.table.Methods[name]
	if m == nil {
		switch name {
		case "Fetch":
			return nil, newError(ErrReservedMethod, "%s: 'Fetch' is a reserved method and cannot be called over RPC", c.display)
		case "Alarm":
			return nil, newError(ErrReservedMethod, "%s: 'Alarm' is a reserved method and cannot be called over RPC; the runtime calls it when the alarm set with Storage.SetAlarm is due", c.display)
		}
		msg := fmt.Sprintf("%s: The RPC receiver does not implement the method %q.", c.display, name)
		if hint := c.table.Suggest(name); hint != "" {
			msg += fmt.Sprintf(" Did you mean %q?", hint)
		}
		return nil, newError(ErrMethodNotFound, "%s", msg)
	}
	return nil, newError(ErrMethodNotFound, "%s: method %s cannot be called over RPC: %s", c.display, m.Signature(), m.Problem)
}

// fastArguments prepares args for m's shim.
func (c *doClass) fastArguments(m *doMethod, args []any) (shim.Args, error) {
	if m.allPlain && len(args) == len(m.Params) {
		exact := true
		for i, a := range args {
			if a == nil || reflect.TypeOf(a) != m.Params[i] {
				exact = false
				break
			}
		}
		if exact {
			return shim.Two(args), nil // the common call: nothing to convert or copy
		}
	}
	vals, err := c.arguments(m, args)
	if err != nil {
		return shim.Args{}, err
	}
	lead := len(vals) - len(args)
	in := shim.MakeArgs(len(args))
	for i := range args {
		in.Set(i, vals[lead+i].Interface())
	}
	return in, nil
}

// arguments converts and copies args for m, leaving in[0] for the receiver
// and, when m takes one, in[1] for the context.
func (c *doClass) arguments(m *doMethod, args []any) ([]reflect.Value, error) {
	fixed := len(m.Params)
	if m.Variadic {
		fixed--
	}
	if n := len(args); n != fixed && !(m.Variadic && n > fixed) {
		want := fmt.Sprint(fixed)
		if m.Variadic {
			want = "at least " + want
		}
		return nil, newError(ErrInvalidArgument, "%s method %s: got %d arguments, want %s", c.display, m.Signature(), n, want)
	}
	lead := 1
	if m.Ctx {
		lead = 2
	}
	in := make([]reflect.Value, lead+len(args))
	for i, a := range args {
		p := min(i, len(m.Params)-1)
		pt := m.Params[p]
		if m.Variadic && i >= fixed {
			pt = pt.Elem()
		}
		if m.plain[p] && a != nil && reflect.TypeOf(a) == pt {
			in[lead+i] = reflect.ValueOf(a) // nothing to convert or copy
			continue
		}
		v, err := clone.Convert(a, pt)
		if err == nil {
			v, err = copier.CopyValue(v)
		}
		if err != nil {
			return nil, &callError{kind: ErrInvalidArgument, cause: err,
				msg: fmt.Sprintf("workers: %s method %s: argument %d: %v", c.display, m.Signature(), i, err)}
		}
		if v.Type() != pt {
			v = v.Convert(pt)
		}
		in[lead+i] = v
	}
	return in, nil
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
		go runTask(context.Background(), nil, "", task)
		return
	}
	a := s.a
	c, r := a.cls, a.cls.reg
	var onStack byte
	sh := &r.track.shards[r.track.shardFor(unsafe.Pointer(&onStack))]
	if !r.track.addTask(sh) {
		r.logger().Error("workers: WaitUntil after Close; task not started", "object", c.display)
		return
	}
	live := c.holdLive(a)
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(r.drain, cancel)
	go func() {
		defer r.track.done(sh)
		defer cancel()
		defer stop()
		if live {
			defer c.release(a)
		}
		runTask(ctx, r, c.display, task)
	}()
}

// BlockConcurrencyWhile runs fn while no call of the object runs, as
// Workers' blockConcurrencyWhile: calls that arrive meanwhile wait until it
// returns. Within a call of the object (ctx is the call's context) fn runs
// at once, the call holding the object already; from a WaitUntil task or
// another goroutine it waits for the running call first. If fn fails or
// panics, the error (a panic as *[PanicError]) is returned and the object
// is reset, as Workers resets it: its next call makes a new instance.
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
	cc := &callCtx{Ctx: Ctx{parent: ctx, depth: int16(depthOf(ctx))}}
	cc.t.a, cc.t.parent = a, turnOf(ctx)
	err := a.block(cc, fn)
	cc.t.done.Store(true)
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
