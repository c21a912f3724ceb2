package remote

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// Promise pipelining over a session, Cap'n Web style. A piped call is an
// opCall with Keep: the receiver keeps its result under the sender's call
// ID. A call on that result is an opCall with On naming that ID: it may be
// sent before the result exists, right behind the first call, and the
// receiver runs it once the result is there. A chain of dependent calls so
// costs one round trip. Call IDs are numbered by each session's sender, so
// a peer names only its own calls of its own session: another session's
// results are out of its reach. The receiver bounds what it keeps
// (WithPipeLimit), and drops a kept result when the sender forgets it
// (opForget: the piped stub was closed) or the session ends.

var (
	_ transport.Pipeliner = (*Transport)(nil)
	_ link.PipeTarget     = (*importTarget)(nil)
	_ transport.Pending   = (*promise)(nil)
)

// Pipe implements [transport.Pipeliner]: it sends call through the
// session and returns at once. ok is false when the handler or the
// protocol carries no sessions: the call then goes unary, unpiped. The
// first call of a Transport waits for its session to open.
func (t *Transport) Pipe(ctx context.Context, call *transport.Call, done func()) (transport.Pending, bool) {
	where := describe(call.Service, call.Entrypoint, call.Method)
	if t.err != nil {
		done()
		return failedPromise(where, errorf([]error{workers.ErrUnavailable, t.err}, "workers: %s: %v", where, t.err)), true
	}
	for try := 0; ; try++ {
		s, err, unary := t.session(ctx, where)
		if unary {
			return nil, false
		}
		if err == nil {
			s.adopt(hooks().RegistryOf(ctx))
			f := &frame{Op: opCall, Service: call.Service, Entrypoint: call.Entrypoint, Method: call.Method, Depth: call.Depth, Caller: sentCaller(call.Caller)}
			var p *promise
			if p, err = s.pipe(ctx, nil, nil, f, call.Args, call.Props, where, done); err == nil {
				return p, true
			}
			if errors.Is(err, errNotSent) && try < 2 {
				continue // the session ended before the call left: through a new one
			}
		}
		done()
		return failedPromise(where, err), true
	}
}

// Pipe implements [link.PipeTarget]: a call of the peer's object whose
// result calls are piped on.
func (t *importTarget) Pipe(ctx context.Context, method string, args []any) transport.Pending {
	ctx, f, where, err := t.frame(ctx, method)
	if err != nil {
		return failedPromise(where, err)
	}
	p, err := t.s.pipe(ctx, nil, t.reg, f, args, nil, where, nil)
	if err != nil {
		return failedPromise(where, err)
	}
	return p
}

// pipe sends f as a piped call (Keep) and returns its promise; an error
// when it could not be sent. parent is the promise f is piped on, if any.
// done, if set, is called once when the result has arrived or the call
// failed.
func (s *session) pipe(ctx context.Context, parent *promise, reg any, f *frame, args []any, props any, where string, done func()) (*promise, error) {
	s.activity.Add(1)
	if reg == nil {
		reg = s.registry()
	}
	p := &promise{s: s, parent: parent, reg: reg, where: "the piped result of " + where, done: make(chan struct{}), doneFn: done}
	f.Keep = true
	enc, err := s.send(ctx, f, args, props, &pending{promise: p, reg: reg, where: where})
	if err != nil {
		return nil, err
	}
	s.promises.Add(1)
	p.mu.Lock()
	if p.resolved {
		p.mu.Unlock()
		enc.done()
		return p, nil
	}
	p.enc = enc
	// Canceling ctx cancels the call where it runs; the return then says
	// so. No goroutine waits for it: AfterFunc runs when ctx is done. A
	// deadline is the serving side's to keep (it travelled with the call),
	// so that the call fails there with DeadlineExceeded, not Canceled.
	p.stop = context.AfterFunc(ctx, func() {
		if !p.isResolved() && !s.ended.Load() && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			_ = s.out.push(frame{Op: opCancel, ID: p.id})
		}
	})
	p.mu.Unlock()
	return p, nil
}

// promise is this side's piped call: the result it may not have yet,
// which calls and further Pipes name by the call's ID.
type promise struct {
	s      *session // nil for a promise that failed before it was sent
	id     uint64   // the call's, set before it is sent
	reg    any
	where  string
	parent *promise // the promise this one's call was piped on, if any; set before it is sent
	done   chan struct{}
	doneFn func()

	mu       sync.Mutex
	resolved bool
	released bool
	err      error
	raw      cbor.RawMessage // a result without references, decoded by Await
	typ      string
	v        any             // a result with references, decoded as it came
	held     []*workers.Stub // the references it holds, released with it
	enc      *encoder        // releases what the call's frame kept alive
	stop     func() bool     // stops watching the call's ctx
}

func failedPromise(where string, err error) *promise {
	p := &promise{where: "the piped result of " + where, done: make(chan struct{}), resolved: true, err: err}
	close(p.done)
	return p
}

func (p *promise) isResolved() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resolved
}

// failed returns the call's error once it has failed.
func (p *promise) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resolved {
		return p.err
	}
	return nil
}

// resolve takes the call's return, on the session's reader, in order with
// the frames after it: references in the result become this side's now.
func (p *promise) resolve(r *frame) {
	var (
		err  error
		v    any
		raw  cbor.RawMessage
		held []*workers.Stub
	)
	switch {
	case r.Error != nil:
		err = fromWire(r.Error, p.s.errs)
		if pe := p.parentError(); pe != nil && !errors.Is(err, pe) {
			err = pipedError(p.where, pe)
		}
	case len(r.Result) == 0:
	case isRef(r.Result) || r.Nested:
		d := decoder{s: p.s, ctx: p.s.ctx, reg: p.reg}
		d.bound(len(r.Result))
		rv, derr := d.value(r.Result, anyType, r.Type, r.Nested)
		if derr != nil {
			d.release()
			err = errorf([]error{workers.ErrInvalidResult, derr}, "workers: %s: %v", p.where, derr)
		} else {
			held = d.got
			if rv.IsValid() {
				v = rv.Interface()
			}
		}
	default:
		raw = r.Result
	}
	p.settle(err, v, raw, r.Type, held)
}

// parentError is the error of the call this one was piped on, once known:
// a call piped on a failed one fails with its error, whatever the peer
// answered (it may have refused the first call before keeping anything).
func (p *promise) parentError() error {
	if p.parent == nil {
		return nil
	}
	return p.parent.failed()
}

func (p *promise) settle(err error, v any, raw cbor.RawMessage, typ string, held []*workers.Stub) {
	p.mu.Lock()
	if p.resolved {
		p.mu.Unlock()
		for _, st := range held {
			st.Close()
		}
		return
	}
	p.resolved, p.err, p.v, p.raw, p.typ = true, err, v, raw, typ
	released := p.released
	if !released {
		p.held = held
	}
	enc, stop := p.enc, p.stop
	p.enc, p.stop = nil, nil
	p.mu.Unlock()
	close(p.done)
	if released {
		for _, st := range held {
			st.Close()
		}
	}
	if stop != nil {
		stop()
	}
	if enc != nil {
		enc.done()
	}
	if p.doneFn != nil {
		p.doneFn()
	}
}

// Call implements [transport.Pending]: it calls method on the result,
// sent at once, right behind the call that makes it.
func (p *promise) Call(ctx context.Context, method string, args []any, result reflect.Type) (any, error) {
	where := p.where + fmt.Sprintf(" method %q", method)
	if err := p.usable(where); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	f := &frame{Op: opCall, On: p.id, Method: method, Depth: hooks().Depth(ctx) + 1}
	res, err := p.s.call(ctx, p.reg, f, args, nil, result, ctx, where)
	if err != nil {
		if pe := p.failed(); pe != nil && !errors.Is(err, pe) {
			return nil, pipedError(where, pe)
		}
	}
	return res, err
}

// usable says why no call can be piped on p: it was released, or it
// failed.
func (p *promise) usable(where string) error {
	p.mu.Lock()
	released, failed := p.released, p.resolved && p.err != nil
	err := p.err
	p.mu.Unlock()
	switch {
	case released:
		return errorf([]error{workers.ErrDisposed}, "workers: %s: RPC stub used after being disposed.", where)
	case failed:
		return pipedError(where, err)
	case p.s == nil:
		return errorf([]error{workers.ErrUnavailable}, "workers: %s: not sent", where)
	}
	return nil
}

// pipedError is the error of a call piped on a result that never existed:
// it wraps the error of the call that failed.
func pipedError(where string, err error) error {
	return errorf([]error{err}, "workers: %s: the piped call failed: %v", where, err)
}

// Pipe implements [transport.Pending]: a call on the result whose own
// result further calls are piped on.
func (p *promise) Pipe(ctx context.Context, method string, args []any) transport.Pending {
	where := p.where + fmt.Sprintf(" method %q", method)
	if err := p.usable(where); err != nil {
		return failedPromise(where, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	f := &frame{Op: opCall, On: p.id, Method: method, Depth: hooks().Depth(ctx) + 1}
	child, err := p.s.pipe(ctx, p, p.reg, f, args, nil, where, nil)
	if err != nil {
		return failedPromise(where, err)
	}
	return child
}

// Await implements [transport.Pending]: the call's own result, decoded
// into result when set.
func (p *promise) Await(ctx context.Context, result reflect.Type) (any, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var ended <-chan struct{}
	if p.s != nil {
		ended = p.s.done
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		err := ctx.Err()
		return nil, errorf([]error{err}, "workers: %s: %v", p.where, err)
	case <-ended:
		select {
		case <-p.done:
		default:
			err := p.s.failure()
			return nil, errorf([]error{workers.ErrUnavailable, err}, "workers: %s: %v", p.where, err)
		}
	}
	p.mu.Lock()
	err, v, raw, typ, released := p.err, p.v, p.raw, p.typ, p.released
	p.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case released:
		return nil, errorf([]error{workers.ErrDisposed}, "workers: %s: RPC stub used after being disposed.", p.where)
	case len(raw) == 0:
		return v, nil
	}
	d := decoder{s: p.s, ctx: p.s.ctx, reg: p.reg}
	d.bound(len(raw))
	want := result
	if want == nil {
		want = anyType
	}
	rv, err := d.value(raw, want, typ, false)
	if err != nil && want != anyType {
		// Not of the type asked for: the runtime converts it exactly or
		// names both types.
		rv, err = d.value(raw, anyType, typ, false)
	}
	if err != nil {
		return nil, errorf([]error{workers.ErrInvalidResult, err}, "workers: %s: %v", p.where, err)
	}
	if !rv.IsValid() {
		return nil, nil
	}
	return rv.Interface(), nil
}

// Release implements [transport.Pending]: the peer drops the result it
// kept, and this side the references the result holds, now or when it
// arrives.
func (p *promise) Release() {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	held := p.held
	p.held = nil
	p.mu.Unlock()
	for _, st := range held {
		st.Close()
	}
	if s := p.s; s != nil {
		s.promises.Add(-1)
		if !s.ended.Load() {
			_ = s.out.push(frame{Op: opForget, IDs: []uint64{p.id}})
		}
	}
}

// Describe implements [transport.Pending].
func (p *promise) Describe() string { return p.where }

// kept is the result of the peer's piped call, which the calls it pipes
// on it use: counted, so that it is released when the peer forgets it and
// the last call on it has ended.
type kept struct {
	done  chan struct{} // closed once the result is there and its return sent
	where string        // the piped call, for messages

	mu       sync.Mutex
	refs     int // the table's, and one per call piped on it still running
	resolved bool
	res      any
	err      error
	obj      *export // what calls on it reach: nil for a result that is no reference
}

func (k *kept) ref() {
	k.mu.Lock()
	k.refs++
	k.mu.Unlock()
}

func (k *kept) unref() {
	k.mu.Lock()
	k.refs--
	var obj *export
	if k.refs == 0 && k.resolved {
		obj, k.obj = k.obj, nil
	}
	k.mu.Unlock()
	if obj != nil {
		obj.release()
	}
}

// resolve keeps the call's result: a reference of its own to the object
// calls piped on it reach.
func (k *kept) resolve(ctx context.Context, s *session, res any, err error) {
	var obj *export
	if err == nil && res != nil {
		rv := reflect.ValueOf(res)
		switch x := res.(type) {
		case *workers.Stub:
			obj = &export{kind: refTarget, stub: x.Dup()}
		case *workers.Binding:
			obj = &export{kind: refBinding, binding: x}
		default:
			switch {
			case rv.Kind() == reflect.Func && !rv.IsNil():
				obj = &export{kind: refFunc, fn: rv}
			case hooks().IsTarget(rv.Type()) && !rv.IsNil():
				if st, xerr := hooks().Export(ctx, s.registry(), res); xerr == nil {
					obj = &export{kind: refTarget, stub: st.(*workers.Stub)}
				}
			}
		}
	}
	k.mu.Lock()
	k.resolved, k.res, k.err, k.obj = true, res, err, obj
	free := k.refs == 0
	if free {
		k.obj = nil
	}
	k.mu.Unlock()
	if free && obj != nil {
		obj.release()
	}
}

// invokeOn runs the peer's call f on the kept result of its call k, once
// that is there. Nothing runs on a result that never existed: the call
// fails with the error of the call that was to make it.
func (s *session) invokeOn(ctx context.Context, f *frame, d *decoder, k *kept) (res any, has, owned bool, err error) {
	where := fmt.Sprintf("the piped result of %s method %q", k.where, f.Method)
	select {
	case <-k.done:
	case <-ctx.Done():
		err := ctx.Err()
		return nil, false, false, errorf([]error{err}, "workers: %s: %v", where, err)
	}
	k.mu.Lock()
	kerr, kres, obj := k.err, k.res, k.obj
	k.mu.Unlock()
	switch {
	case kerr != nil:
		return nil, false, false, pipedError(where, kerr)
	case obj == nil:
		kind := workers.ErrMethodNotFound
		if kres == nil {
			kind = workers.ErrInvalidArgument
		}
		return nil, false, false, errorf([]error{kind}, "workers: %s: the result is a %s, not an RpcTarget: it has no methods to call", where, typeName(kres))
	}
	ctx = transport.WithDepth(withReceived(ctx, f.Metadata), max(f.Depth, 1)-1)
	if s.served != nil {
		ctx = s.served(ctx)
	}
	if ctx, err = withCaller(ctx, f.Caller, where); err != nil {
		return nil, false, false, err
	}
	return s.callExport(ctx, f, d, obj, where)
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}
