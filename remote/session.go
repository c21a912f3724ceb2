package remote

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/transport"
)

// ErrSessionLimit: a session's bound on references, on calls in flight
// (see [WithSessionLimits]) or on piped calls ([WithPipeLimit]) was
// reached; the call that would pass it fails with it, and the session goes
// on.
var ErrSessionLimit = errors.New("remote: session limit reached")

func init() {
	RegisterSentinel("disposed", workers.ErrDisposed)
	RegisterSentinel("session_limit", ErrSessionLimit)
}

// Default session limits.
const (
	DefaultSessionRefs  = 10_000 // references each side of a session may hold of the other's
	DefaultSessionCalls = 1_000  // calls in flight each way
	DefaultSessionPipes = 1_000  // piped calls pending on each side (see WithPipeLimit)
)

type sessionLimits struct{ refs, calls, pipes int }

func (l sessionLimits) orDefault() sessionLimits {
	if l.refs <= 0 {
		l.refs = DefaultSessionRefs
	}
	if l.calls <= 0 {
		l.calls = DefaultSessionCalls
	}
	if l.pipes <= 0 {
		l.pipes = DefaultSessionPipes
	}
	return l
}

// WithSessionLimits bounds every session of a [Transport] or a handler:
// refs, how many references the peer may hold of this side's objects (and
// this side of the peer's); calls, how many calls may be in flight each
// way. Zero keeps a default ([DefaultSessionRefs], [DefaultSessionCalls]).
// What would pass a bound fails with [ErrSessionLimit].
func WithSessionLimits(refs, calls int) Option { return sessionLimitsOption{refs: refs, calls: calls} }

// WithPipeLimit bounds the piped calls every session of a [Transport] or a
// handler keeps pending for its peer: at most n results kept for the calls
// the peer may pipe on them (each workers.Pipe keeps one until its stub is
// closed), and at most n calls piped on a result running or waiting for
// it. Pipelining is cheap for the sender and costs the receiver
// memory until the sender releases the result, so a peer must not make it
// unbounded. Zero keeps the default, [DefaultSessionPipes]; what would pass
// it fails with [ErrSessionLimit], and so does every call piped on it.
func WithPipeLimit(n int) Option { return sessionLimitsOption{pipes: n} }

type sessionLimitsOption sessionLimits

func (o sessionLimitsOption) apply(l *sessionLimits) {
	if o.refs != 0 || o.calls != 0 {
		l.refs, l.calls = o.refs, o.calls
	}
	if o.pipes != 0 {
		l.pipes = o.pipes
	}
}

func (o sessionLimitsOption) applyToClient(c *clientConfig)   { o.apply(&c.session) }
func (o sessionLimitsOption) applyToHandler(c *handlerConfig) { o.apply(&c.session) }

// export is an object of this side that the peer holds a reference to.
type export struct {
	kind    uint8
	stub    *workers.Stub // refTarget: a reference of our own, released with the export
	fn      reflect.Value // refFunc
	binding *workers.Binding
}

func (e *export) object() any {
	switch e.kind {
	case refFunc:
		return e.fn.Interface()
	case refBinding:
		return e.binding
	}
	return e.stub
}

func (e *export) release() {
	if e.stub != nil {
		e.stub.Close()
	}
}

// session is one end of a session stream.
type session struct {
	server bool
	peer   string            // names the other end in messages
	reg    *workers.Registry // the handler's; a Transport's, from its first call
	regMu  sync.Mutex
	h      *handler     // server side
	p      *principal   // server side: who the peer is
	errs   *knownErrors // WithErrors
	limits sessionLimits
	ctx    context.Context // canceled when the session ends
	cancel context.CancelFunc
	out    sender
	closer func()                                // ends the stream (client side)
	served func(context.Context) context.Context // Serialize's: marks the calls it serves

	version int // client side: the handler's session version

	mu         sync.Mutex
	exports    map[uint64]*export
	imports    map[uint64]*importTarget
	calls      map[uint64]*pending
	running    map[uint64]context.CancelFunc
	kept       map[uint64]*kept // the peer's calls whose results it may pipe on
	waiting    int              // the peer's calls piped on a result not there yet
	lastExport uint64
	lastCall   uint64
	why        error
	ended      atomic.Bool
	done       chan struct{} // closed when the session ends
	stopped    chan struct{} // closed when its reader has returned
	wg         sync.WaitGroup
	activity   atomic.Uint64 // calls made either way, to tell an idle session
	making     atomic.Int64  // calls of this side being made (encoded, sent, awaited)
	promises   atomic.Int64  // this side's piped results not released: calls may still be piped on them
}

// sessionIdle is how long a Transport keeps a session that holds nothing
// (no calls in flight, no references either way) before it closes it, so
// that the handler's server can shut down; the next call opens another.
const sessionIdle = time.Second

// errNotSent marks a call that failed before it was sent: the Transport
// may make it through a new session.
var errNotSent = errors.New("not sent")

// watch closes the session once it has been idle for sessionIdle.
func (s *session) watch() {
	tick := time.NewTicker(sessionIdle / 2)
	defer tick.Stop()
	last := s.activity.Load()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		now := s.activity.Load()
		s.mu.Lock()
		idle := now == last && s.making.Load() == 0 && s.promises.Load() == 0 && len(s.calls) == 0 && len(s.running) == 0 && len(s.imports) == 0 && len(s.exports) == 0 && len(s.kept) == 0
		s.mu.Unlock()
		last = now
		if idle && s.endIf(func() bool {
			return s.activity.Load() == now && s.making.Load() == 0 && s.promises.Load() == 0 && len(s.calls) == 0 && len(s.running) == 0 && len(s.imports) == 0 && len(s.exports) == 0 && len(s.kept) == 0
		}, unavailable(s.peer, errors.New("closed when idle"))) {
			return
		}
	}
}

func newSession(ctx context.Context, server bool, peer string, limits sessionLimits, send func(*sessionBatch) error) *session {
	s := &session{
		server: server, peer: peer, limits: limits.orDefault(),
		exports: map[uint64]*export{}, imports: map[uint64]*importTarget{},
		calls: map[uint64]*pending{}, running: map[uint64]context.CancelFunc{}, kept: map[uint64]*kept{},
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.out.send = send
	s.out.idle.L = &s.out.mu
	s.out.broken = func(err error) { go s.end(unavailable(s.peer, err)) }
	return s
}

func unavailable(peer string, err error) error {
	return errorf([]error{workers.ErrUnavailable, err}, "workers: the session with %s ended: %v", peer, err)
}

// registry returns the registry that exports this side's RpcTargets.
func (s *session) registry() any {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.reg == nil {
		return nil
	}
	return s.reg
}

func (s *session) adopt(reg any) {
	r, _ := reg.(*workers.Registry)
	if r == nil {
		return
	}
	s.regMu.Lock()
	if s.reg == nil {
		s.reg = r
	}
	s.regMu.Unlock()
}

// end ends the session: calls in flight either way fail or are canceled,
// the peer's references to this side's objects are released (their Dispose
// runs), and this side's stubs of the peer's fail with ErrDisposed.
func (s *session) end(why error) { s.endIf(nil, why) }

// endIf ends the session if cond, called with s.mu held, holds.
func (s *session) endIf(cond func() bool, why error) bool {
	s.mu.Lock()
	if s.ended.Load() || cond != nil && !cond() {
		s.mu.Unlock()
		return false
	}
	s.ended.Store(true)
	s.why = why
	exports, imports, running, kept, calls := s.exports, s.imports, s.running, s.kept, s.calls
	s.exports, s.imports, s.running, s.calls, s.kept = nil, nil, nil, nil, nil
	close(s.done)
	s.mu.Unlock()
	s.cancel()
	for _, c := range running {
		c()
	}
	s.out.close()
	if s.closer != nil {
		s.closer()
	}
	for _, e := range exports {
		e.release()
	}
	for _, imp := range imports {
		hooks().Revoke(imp.stub)
	}
	for _, k := range kept {
		k.unref()
	}
	for _, p := range calls {
		if p.promise != nil {
			p.promise.settle(errorf([]error{workers.ErrUnavailable, why}, "workers: %s: %v", p.where, why), nil, nil, "", nil)
		}
	}
	return true
}

// failure is the error of a call the ended session cannot make.
func (s *session) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why != nil {
		return s.why
	}
	return unavailable(s.peer, errors.New("closed"))
}

func (s *session) addExport(e *export) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return 0, s.why
	}
	if len(s.exports) >= s.limits.refs {
		return 0, errorf([]error{ErrSessionLimit}, "remote: the session with %s holds %d references already (WithSessionLimits)", s.peer, len(s.exports))
	}
	s.lastExport++
	s.exports[s.lastExport] = e
	return s.lastExport, nil
}

func (s *session) dropExport(id uint64) {
	s.mu.Lock()
	e := s.exports[id]
	delete(s.exports, id)
	s.mu.Unlock()
	if e != nil {
		e.release()
	}
}

// ownExport returns the object of this side's export id, which the peer
// named: only this session's exports are reachable through it.
func (s *session) ownExport(id uint64) (any, error) {
	s.mu.Lock()
	e := s.exports[id]
	s.mu.Unlock()
	if e == nil {
		return nil, errorf([]error{workers.ErrDisposed}, "workers: reference #%d of the session with %s: RPC stub used after being disposed. (or never given to this session)", id, s.peer)
	}
	return e.object(), nil
}

func (s *session) exportOf(id uint64) (*export, error) {
	s.mu.Lock()
	e := s.exports[id]
	s.mu.Unlock()
	if e == nil {
		return nil, errorf([]error{workers.ErrDisposed}, "workers: reference #%d of the session with %s: RPC stub used after being disposed. (or never given to this session)", id, s.peer)
	}
	return e, nil
}

// addImport makes the first stub of the peer's export m.
func (s *session) addImport(m refMark, reg any) (*workers.Stub, error) {
	if m.ID == 0 || m.Kind < refTarget || m.Kind > refBinding {
		return nil, fmt.Errorf("%w: a reference of kind %d and id %d", errProtocol, m.Kind, m.ID)
	}
	imp := &importTarget{s: s, id: m.ID, kind: m.Kind, reg: reg}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended.Load():
		return nil, s.why
	case s.imports[m.ID] != nil:
		return nil, fmt.Errorf("%w: reference #%d sent twice", errProtocol, m.ID)
	case len(s.imports) >= s.limits.refs:
		return nil, errorf([]error{ErrSessionLimit}, "remote: the session with %s holds %d of its references already (WithSessionLimits)", s.peer, len(s.imports))
	}
	imp.stub = hooks().NewStub(imp).(*workers.Stub)
	s.imports[m.ID] = imp
	return imp.stub, nil
}

// importTarget is the peer's object, which this side's stubs call.
type importTarget struct {
	s        *session
	id       uint64
	kind     uint8
	reg      any // the registry that exports RpcTargets passed in calls on it
	stub     *workers.Stub
	released atomic.Bool
}

func (t *importTarget) Call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	return t.call(ctx, method, args, result)
}

func (t *importTarget) call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	ctx, f, where, err := t.frame(ctx, method)
	if err != nil {
		return nil, err
	}
	return t.s.call(ctx, t.reg, f, args, nil, result, ctx, where)
}

// frame makes the frame of a call of method on t, made or piped with ctx
// (Background for nil), and says where in messages; an error when t was
// released.
func (t *importTarget) frame(ctx context.Context, method string) (context.Context, *frame, string, error) {
	where := t.Describe()
	if method != "" || t.kind != refFunc {
		where += fmt.Sprintf(" method %q", method)
	}
	if t.released.Load() {
		return ctx, nil, where, errorf([]error{workers.ErrDisposed}, "workers: %s: RPC stub used after being disposed.", where)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return ctx, &frame{Op: opCall, Target: t.id, Method: method, Depth: hooks().Depth(ctx) + 1, Caller: sentCaller(hooks().Worker(ctx))}, where, nil
}

// Registry is the registry the stub of t was made in: calls through the
// stub outside any invocation pass its interceptors.
func (t *importTarget) Registry() any { return t.reg }

func (t *importTarget) Release() {
	if t.released.Swap(true) {
		return
	}
	s := t.s
	s.mu.Lock()
	delete(s.imports, t.id)
	s.mu.Unlock()
	if !s.ended.Load() {
		_ = s.out.push(frame{Op: opRelease, IDs: []uint64{t.id}})
	}
}

func (t *importTarget) Describe() string {
	what := "RpcTarget"
	switch t.kind {
	case refFunc:
		what = "callback"
	case refBinding:
		what = "binding"
	}
	return fmt.Sprintf("remote %s #%d of %s", what, t.id, t.s.peer)
}

// call sends the call f with args (and props) and waits for its return,
// decoded into result (nil for any). References in the result are held by
// the invocation hold belongs to, when there is one; else they are the
// caller's.
func (s *session) call(ctx context.Context, reg any, f *frame, args []any, props any, result reflect.Type, hold context.Context, where string) (any, error) {
	s.activity.Add(1)
	s.making.Add(1)
	defer s.making.Add(-1)
	if reg == nil {
		reg = s.registry()
	}
	p := &pending{ch: make(chan outcome, 1), reg: reg, want: result, hold: hold, where: where}
	enc, err := s.send(ctx, f, args, props, p)
	if err != nil {
		return nil, err
	}
	defer enc.done()
	select {
	case o := <-p.ch:
		return o.v, o.err
	case <-ctx.Done():
		if s.forget(f.ID) {
			_ = s.out.push(frame{Op: opCancel, ID: f.ID})
		} else {
			select {
			case o := <-p.ch:
				// The return came first: release what it holds.
				if st, ok := o.v.(*workers.Stub); ok && o.err == nil && !hooks().Hold(hold, st) {
					st.Close()
				}
			case <-s.done:
			}
		}
		if s.ended.Load() {
			err := s.failure()
			return nil, errorf([]error{workers.ErrUnavailable, err}, "workers: %s: %v", where, err)
		}
		err := ctx.Err()
		return nil, errorf([]error{err}, "workers: %s: %v", where, err)
	case <-s.done:
		err := s.failure()
		return nil, errorf([]error{workers.ErrUnavailable, err}, "workers: %s: %v", where, err)
	}
}

// send encodes the call f with args (and props), registers p to await its
// return and sends it. The encoder's done is to be called once the call
// has returned.
func (s *session) send(ctx context.Context, f *frame, args []any, props any, p *pending) (*encoder, error) {
	where := p.where
	if s.ended.Load() {
		return nil, errorf([]error{workers.ErrUnavailable, s.failure(), errNotSent}, "workers: %s: %v", where, s.failure())
	}
	enc := &encoder{s: s, ctx: ctx, reg: p.reg}
	if err := enc.call(f, args, props, where); err != nil {
		return nil, err
	}
	f.Metadata = sentMetadata(ctx)
	if dl, ok := ctx.Deadline(); ok {
		f.Timeout = max(time.Until(dl).Milliseconds(), 1)
	}
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		enc.sent(false)
		return nil, errorf([]error{workers.ErrUnavailable, s.why, errNotSent}, "workers: %s: %v", where, s.why)
	}
	if len(s.calls) >= s.limits.calls {
		n := len(s.calls)
		s.mu.Unlock()
		enc.sent(false)
		return nil, errorf([]error{ErrSessionLimit}, "workers: %s: the session with %s has %d calls in flight already (WithSessionLimits)", where, s.peer, n)
	}
	s.lastCall++
	f.ID = s.lastCall
	s.calls[f.ID] = p
	if p.promise != nil {
		p.promise.id = f.ID
	}
	s.mu.Unlock()
	if err := s.out.push(*f); err != nil {
		s.forget(f.ID)
		enc.sent(false)
		return nil, errorf([]error{workers.ErrUnavailable, err}, "workers: %s: %v", where, unavailable(s.peer, err))
	}
	enc.sent(true)
	return enc, nil
}

// pending is a call awaiting its return, which the reader decodes as it
// comes, in order with the frames after it (a release of a reference the
// return names must not overtake it).
type pending struct {
	promise *promise // a piped call's: the result goes there, not to ch
	ch      chan outcome
	reg     any
	want    reflect.Type
	hold    context.Context
	where   string
}

type outcome struct {
	v   any
	err error
}

// forget removes a call awaiting its return; false when the return came.
func (s *session) forget(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.calls[id]; !ok {
		return false
	}
	delete(s.calls, id)
	return true
}

func argError(where string, i int, err error) error {
	causes := []error{workers.ErrInvalidArgument, err}
	for _, e := range []error{workers.ErrDisposed, ErrSessionLimit, workers.ErrUnavailable} {
		if errors.Is(err, e) {
			causes = []error{e, err}
		}
	}
	return errorf(causes, "workers: %s: argument %d: %v", where, i, err)
}

// returned decodes the return r of a call.
func (s *session) returned(r *frame, reg any, result reflect.Type, hold context.Context, where string) (any, error) {
	if r.Error != nil {
		return nil, fromWire(r.Error, s.errs)
	}
	if len(r.Result) == 0 {
		return nil, nil
	}
	d := decoder{s: s, ctx: s.ctx, reg: reg}
	d.bound(len(r.Result))
	want := result
	if want == nil || hold == nil {
		want = anyType
	}
	v, err := d.value(r.Result, want, r.Type, r.Nested)
	if err != nil && want != anyType && len(d.got) == 0 {
		// Not of the type asked for: as in-process, workers.Call converts
		// it exactly or names both types.
		v, err = d.value(r.Result, anyType, r.Type, r.Nested)
	}
	if err != nil || hold == nil {
		d.release()
		if err != nil {
			return nil, errorf([]error{workers.ErrInvalidResult, err}, "workers: %s: result: %v", where, err)
		}
		return nil, nil
	}
	for _, st := range d.got {
		hooks().Hold(hold, st)
	}
	if !v.IsValid() {
		return nil, nil
	}
	return v.Interface(), nil
}

// run reads the session's messages until the stream ends, then ends the
// session.
func (s *session) run(recv func() (*sessionBatch, error)) error {
	defer close(s.stopped)
	for {
		b, err := recv()
		if err != nil {
			s.end(unavailable(s.peer, err))
			return nil
		}
		for i := range b.Frames {
			f := &b.Frames[i]
			if err := f.check(); err != nil {
				err = fmt.Errorf("%w: %v", errProtocol, err)
				s.end(unavailable(s.peer, err))
				return err
			}
			if err := s.handle(f); err != nil {
				s.end(unavailable(s.peer, err))
				return err
			}
		}
	}
}

func (s *session) handle(f *frame) error {
	switch f.Op {
	case opCall:
		s.activity.Add(1)
		return s.dispatch(f)
	case opReturn:
		s.mu.Lock()
		p := s.calls[f.ID]
		delete(s.calls, f.ID)
		s.mu.Unlock()
		if p == nil {
			_, _ = s.returned(f, s.registry(), nil, nil, "an abandoned call")
			return nil
		}
		if p.promise != nil {
			p.promise.resolve(f)
			return nil
		}
		v, err := s.returned(f, p.reg, p.want, p.hold, p.where)
		p.ch <- outcome{v, err}
	case opRelease:
		ids := f.IDs
		// Dispose methods run on their own goroutine, not the reader's.
		s.wg.Go(func() {
			for _, id := range ids {
				s.dropExport(id)
			}
		})
	case opCancel:
		s.mu.Lock()
		c := s.running[f.ID]
		s.mu.Unlock()
		if c != nil {
			c()
		}
	case opForget:
		var drop []*kept
		s.mu.Lock()
		for _, id := range f.IDs {
			if k := s.kept[id]; k != nil {
				delete(s.kept, id)
				drop = append(drop, k)
			}
		}
		s.mu.Unlock()
		if len(drop) > 0 {
			// Dispose methods run on their own goroutine, not the reader's.
			s.wg.Go(func() {
				for _, k := range drop {
					k.unref()
				}
			})
		}
	}
	return nil
}

// dispatch starts serving the peer's call f.
func (s *session) dispatch(f *frame) error {
	ctx, cancel := context.WithCancel(s.ctx)
	if f.Timeout > 0 {
		ctx, cancel = context.WithTimeout(s.ctx, time.Duration(f.Timeout)*time.Millisecond)
	}
	s.mu.Lock()
	switch {
	case s.ended.Load():
		s.mu.Unlock()
		cancel()
		return nil
	case s.running[f.ID] != nil:
		s.mu.Unlock()
		cancel()
		return fmt.Errorf("%w: call %d made twice", errProtocol, f.ID)
	case len(s.running) >= s.limits.calls:
		n := len(s.running)
		s.mu.Unlock()
		cancel()
		s.refuse(f, errorf([]error{ErrSessionLimit}, "remote: the session with %s has %d calls in flight already (WithSessionLimits)", s.peer, n))
		return nil
	case f.Keep && s.kept[f.ID] != nil:
		s.mu.Unlock()
		cancel()
		return fmt.Errorf("%w: call %d made twice", errProtocol, f.ID)
	}
	// The tables of pipelining are read and written here, by the reader,
	// in the order of the frames: a call piped on call N always finds N's
	// entry, made when N arrived, whether N has returned or not.
	var on *kept
	if f.On != 0 {
		if on = s.kept[f.On]; on == nil {
			s.mu.Unlock()
			cancel()
			s.refuse(f, errorf([]error{workers.ErrDisposed}, "workers: call #%d of the session with %s: there is no result of call #%d to pipe on: it was never made with a Pipe in this session, or was refused, or released", f.ID, s.peer, f.On))
			return nil
		}
	}
	if f.Keep && len(s.kept) >= s.limits.pipes || on != nil && s.waiting >= s.limits.pipes {
		what, n := "results kept for piped calls", len(s.kept)
		if !f.Keep || len(s.kept) < s.limits.pipes {
			what, n = "calls piped on results pending", s.waiting
		}
		s.mu.Unlock()
		cancel()
		s.refuse(f, errorf([]error{ErrSessionLimit}, "remote: the session with %s has %d %s already (WithPipeLimit)", s.peer, n, what))
		return nil
	}
	var keep *kept
	if f.Keep {
		keep = &kept{done: make(chan struct{}), refs: 1, where: s.where(f)}
		s.kept[f.ID] = keep
	}
	if on != nil {
		on.ref()
		s.waiting++
	}
	s.running[f.ID] = cancel
	s.mu.Unlock()
	s.wg.Go(func() {
		defer cancel()
		s.serve(ctx, f, on, keep)
		s.mu.Lock()
		delete(s.running, f.ID)
		if on != nil && s.running != nil {
			s.waiting--
		}
		s.mu.Unlock()
		if on != nil {
			on.unref()
		}
	})
	return nil
}

// refuse answers the peer's call f with err, without running it.
func (s *session) refuse(f *frame, err error) {
	we, _ := toWire(err, s.errs)
	_ = s.out.push(frame{Op: opReturn, ID: f.ID, Error: we})
}

// serve runs the peer's call f and sends its return. A call piped on
// another waits for it (on); the result of a call with Keep is kept for
// the calls piped on it (keep).
func (s *session) serve(ctx context.Context, f *frame, on, keep *kept) {
	out := frame{Op: opReturn, ID: f.ID}
	d := &decoder{s: s, ctx: ctx, reg: s.registry()}
	var (
		res        any
		has, owned bool
		err        error
	)
	if on != nil {
		res, has, owned, err = s.invokeOn(ctx, f, d, on)
	} else {
		res, has, owned, err = s.invoke(ctx, f, d)
	}
	if owned {
		if st, ok := res.(*workers.Stub); ok {
			defer st.Close() // the export holds its own
		}
	}
	enc := encoder{s: s, ctx: ctx, reg: s.registry()}
	if err == nil && has {
		var data []byte
		if data, err = enc.value(res); err == nil {
			if len(data) > MaxMessageBytes {
				err = sizeError(s.where(f)+": result", len(data))
			} else {
				out.Result, out.Type, out.Nested = data, hintOf(res), enc.nested
			}
		} else {
			err = errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: result: %v", s.where(f), err)
		}
	}
	// The references the arguments made end with the call, once the
	// result holds its own: a method may return what it received (a
	// binding is returned as it is, not as a new reference), and before
	// the return is sent, so that the peer has them back when it returns.
	d.release()
	if err != nil {
		enc.sent(false)
		out.Result, out.Type, out.Nested = nil, "", false
		out.Error, _ = toWire(err, s.errs)
	}
	if keep != nil {
		keep.resolve(ctx, s, res, err)
		// The calls piped on it run once its return is on its way: theirs
		// follow it on the stream, so that the peer knows its outcome first.
		defer close(keep.done)
	}
	enc.sent(s.out.push(out) == nil)
	enc.done()
}

func (s *session) where(f *frame) string {
	if f.On != 0 {
		return fmt.Sprintf("call #%d method %q", f.On, f.Method)
	}
	if f.Class != "" {
		return describeObject(f.Service, f.Class, f.Object, f.Method)
	}
	if f.Target == 0 {
		ep := f.Entrypoint
		if ep == "default" {
			ep = ""
		}
		return describe(f.Service, ep, f.Method)
	}
	return fmt.Sprintf("reference #%d method %q", f.Target, f.Method)
}

// invoke runs the peer's call f: of a service entrypoint (server side
// only) or of one of this side's exports. owned says that a *Stub result
// is a reference of the session's own, to release once sent.
func (s *session) invoke(ctx context.Context, f *frame, d *decoder) (res any, has, owned bool, err error) {
	where := s.where(f)
	ctx = transport.WithDepth(withReceived(ctx, f.Metadata), max(f.Depth, 1)-1)
	if s.served != nil {
		ctx = s.served(ctx)
	}
	if ctx, err = withCaller(ctx, f.Caller, where); err != nil {
		return nil, false, false, err
	}
	if f.Target == 0 {
		if !s.server {
			return nil, false, false, errorf([]error{workers.ErrServiceNotFound}, "workers: %s: a Transport serves no services to the handler", where)
		}
		if f.Class != "" {
			return s.callObject(ctx, f, d, where)
		}
		return s.callEntrypoint(ctx, f, d, where)
	}
	e, err := s.exportOf(f.Target)
	if err != nil {
		return nil, false, false, err
	}
	return s.callExport(ctx, f, d, e, where)
}

// callExport runs the peer's call f on e, an object of this side: an
// export, or a result kept for pipelining.
func (s *session) callExport(ctx context.Context, f *frame, d *decoder, e *export, where string) (res any, has, owned bool, err error) {
	switch e.kind {
	case refFunc:
		return s.callFunc(ctx, f, d, e.fn, where)
	case refBinding:
		svc := e.binding.Target()
		// A peer's binding passed on reaches no service of this registry:
		// its own process holds its callers to its rules.
		peers := hooks().ViaOf(e.binding) != nil
		if s.server && !peers && (s.p == nil || !s.p.allows(svc.Service, entrypointName(svc.Entrypoint), f.Method)) {
			return nil, false, false, s.h.denied(s.p, svc.Service, entrypointName(svc.Entrypoint), f.Method)
		}
		mi, merr := describeMethod(e.binding, f.Method)
		var args []any
		if merr != nil {
			args, err = d.args(nil, false, f, where) // a remote binding: its side decodes
		} else {
			args, err = d.args(mi.Params, mi.Variadic, f, where)
		}
		if err != nil {
			return nil, false, false, err
		}
		res, err = e.binding.Call(ctx, f.Method, args...)
		return res, merr != nil || mi.Result != nil, true, err
	}
	mi, local, err := hooks().StubMethod(e.stub, f.Method)
	if err != nil {
		return nil, false, false, err
	}
	args, err := d.args(mi.Params, mi.Variadic, f, where)
	if err != nil {
		return nil, false, false, err
	}
	res, err = e.stub.Call(ctx, f.Method, args...)
	return res, !local || mi.Result != nil, true, err
}

func entrypointName(ep string) string {
	if ep == "default" {
		return ""
	}
	return ep
}

func (s *session) callEntrypoint(ctx context.Context, f *frame, d *decoder, where string) (any, bool, bool, error) {
	ep := entrypointName(f.Entrypoint)
	if s.p == nil || !s.p.allows(f.Service, ep, f.Method) {
		return nil, false, false, s.h.denied(s.p, f.Service, ep, f.Method)
	}
	props, err := d.props(f, where)
	if err != nil {
		return nil, false, false, err
	}
	b := s.reg.Bind(workers.Service{Service: f.Service, Entrypoint: ep, Props: props})
	mi, err := s.h.method(b, methodKey{f.Service, ep, f.Method})
	if err != nil {
		if lerr := s.h.servedHere(b, f.Service, ep); lerr != nil {
			err = lerr
		}
		return nil, false, false, err
	}
	args, err := d.args(mi.Params, mi.Variadic, f, where)
	if err != nil {
		return nil, false, false, err
	}
	res, err := b.Call(ctx, f.Method, args...)
	return res, mi.Result != nil, true, err
}

// callFunc calls fn, a func this side passed, with the peer's arguments.
func (s *session) callFunc(ctx context.Context, f *frame, d *decoder, fn reflect.Value, where string) (res any, has, owned bool, err error) {
	if f.Method != "" {
		return nil, false, false, errorf([]error{workers.ErrMethodNotFound}, "workers: %s: a callback has no methods: call it with the method name \"\"", where)
	}
	ft := fn.Type()
	lead := 0
	if ft.NumIn() > 0 && ft.In(0) == contextType {
		lead = 1
	}
	params := make([]reflect.Type, 0, ft.NumIn()-lead)
	for i := lead; i < ft.NumIn(); i++ {
		params = append(params, ft.In(i))
	}
	args, err := d.args(params, ft.IsVariadic(), f, where)
	if err != nil {
		return nil, false, false, err
	}
	fixed := len(params)
	if ft.IsVariadic() {
		fixed--
	}
	if len(args) < fixed || len(args) > fixed && !ft.IsVariadic() {
		return nil, false, false, errorf([]error{workers.ErrInvalidArgument}, "workers: %s: got %d arguments, the callback (%s) takes %d", where, len(args), ft, fixed)
	}
	in := make([]reflect.Value, 0, lead+len(args))
	if lead == 1 {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, a := range args {
		pt := anyType
		if i < fixed {
			pt = params[i]
		} else {
			pt = params[fixed].Elem()
		}
		v, err := convertArg(a, pt)
		if err != nil {
			return nil, false, false, errorf([]error{workers.ErrInvalidArgument, err}, "workers: %s: argument %d: %v", where, i, err)
		}
		in = append(in, v)
	}
	defer func() {
		if v := recover(); v != nil {
			res, has, err = nil, false, &workers.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	outs := fn.Call(in)
	n := len(outs)
	if n > 0 && ft.Out(n-1) == errorType {
		if e := outs[n-1]; !e.IsNil() {
			return nil, false, false, e.Interface().(error)
		}
		n--
	}
	if n == 0 {
		return nil, false, false, nil
	}
	return outs[0].Interface(), true, false, nil
}

// convertArg makes a, decoded, a value of type pt, converting numbers
// only when exactly representable.
func convertArg(a any, pt reflect.Type) (reflect.Value, error) {
	if a == nil {
		switch pt.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func:
			return reflect.Zero(pt), nil
		}
		return reflect.Value{}, fmt.Errorf("nil is not a %s", pt)
	}
	v := reflect.ValueOf(a)
	if v.Type().AssignableTo(pt) {
		out := reflect.New(pt).Elem()
		out.Set(v)
		return out, nil
	}
	if isNumber(v.Kind()) && isNumber(pt.Kind()) && v.CanConvert(pt) {
		c := v.Convert(pt)
		if c.Convert(v.Type()).Equal(v) {
			return c, nil
		}
		return reflect.Value{}, fmt.Errorf("%v does not fit a %s", a, pt)
	}
	return reflect.Value{}, fmt.Errorf("a %s is not a %s", v.Type(), pt)
}

func isNumber(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Float64
}

// args decodes the arguments of f for parameters params (nil: unknown,
// each decoded plainly). One that does not decode into its parameter's type
// is decoded plainly, for the call to convert or refuse as it does
// in-process.
func (d *decoder) args(params []reflect.Type, variadic bool, f *frame, where string) ([]any, error) {
	if len(f.Args) == 0 {
		return nil, nil
	}
	fixed := len(params)
	if variadic {
		fixed--
	}
	if d.budget == nil {
		n := len(f.Props)
		for _, a := range f.Args {
			n += len(a)
		}
		d.bound(n)
	}
	args := make([]any, len(f.Args))
	for i, raw := range f.Args {
		if isNull(raw) {
			continue
		}
		pt := anyType
		switch {
		case i < fixed:
			pt = params[i]
		case variadic:
			pt = params[fixed].Elem()
		}
		hint := ""
		if i < len(f.Types) {
			hint = f.Types[i]
		}
		made := len(d.got)
		v, err := d.value(raw, pt, hint, f.Nested)
		if err != nil && pt != anyType && len(d.got) == made {
			v, err = d.value(raw, anyType, hint, f.Nested)
		}
		if err != nil {
			return nil, argError(where, i, err)
		}
		args[i] = v.Interface()
	}
	return args, nil
}

// sender writes a session's frames: whoever finds it idle writes what is
// queued, its own frame and those queued meanwhile, as one message, so that
// concurrent calls share writes and a lone call makes no hand-off.
type sender struct {
	mu     sync.Mutex
	idle   sync.Cond
	queue  []frame
	spare  []frame
	busy   bool
	closed bool
	err    error
	send   func(*sessionBatch) error
	broken func(error)
}

// maxBatchBytes bounds the values in one message of a session.
const maxBatchBytes = 1 << 20

func (w *sender) push(f frame) error {
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		if err == nil {
			err = errors.New("the session is closed")
		}
		return err
	}
	w.queue = append(w.queue, f)
	if w.busy {
		w.mu.Unlock()
		return nil
	}
	w.busy = true
	var failed error
	for len(w.queue) > 0 && !w.closed {
		n, size, elems := 0, 0, 0
		for n < len(w.queue) {
			f := &w.queue[n]
			e := len(f.Args) + len(f.Types) + len(f.IDs)
			if n > 0 && (size+frameSize(f) > maxBatchBytes || elems+e > maxBatchElements || n == maxBatchFrames) {
				break
			}
			size, elems = size+frameSize(f), elems+e
			n++
		}
		b := &sessionBatch{Frames: w.queue[:n:n]}
		rest := w.queue[n:]
		w.queue = append(w.spare[:0], rest...)
		w.mu.Unlock()
		err := w.send(b)
		w.mu.Lock()
		clear(b.Frames)
		w.spare = b.Frames[:0]
		if err != nil {
			w.closed, w.err, failed = true, err, err
		}
	}
	w.busy = false
	w.idle.Broadcast()
	w.mu.Unlock()
	if failed != nil && w.broken != nil {
		w.broken(failed)
	}
	return failed
}

func frameSize(f *frame) int {
	n := 64 + len(f.Result) + len(f.Props)
	for _, a := range f.Args {
		n += len(a)
	}
	return n
}

// close refuses frames from now on and waits for a write in progress.
func (w *sender) close() {
	w.mu.Lock()
	w.closed = true
	for w.busy {
		w.idle.Wait()
	}
	w.queue = nil
	w.mu.Unlock()
}
