package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/transport"
)

// Ctx is one invocation's execution context, the Go form of Workers' ctx.
// It is also the invocation's [context.Context]: the caller's deadline,
// cancellation and values reach it, so a method without a context parameter
// can pass w.Ctx on to nested calls and keep the call chain's depth:
//
//	sum, err := workers.Call[int](w.Ctx, w.Env.Service("WORKER_B"), "Add", 1, 2)
//
// A nil *Ctx behaves as [context.Background] with no props, so an
// entrypoint used directly in a unit test does not panic.
type Ctx struct {
	// inv must stay the first field: package codegen fills the Ctx of a
	// typed client's call, which lives on the client's stack, through a
	// *link.Invocation that points to it (see codegen.Begin).
	inv         link.Invocation
	passThrough atomic.Bool
}

// entry returns the entrypoint c invokes, or nil.
func (c *Ctx) entry() *entrypoint {
	if c == nil {
		return nil
	}
	ep, _ := c.inv.Entry.(*entrypoint)
	return ep
}

// ctxKey finds the invocation's *Ctx among a context's values.
type ctxKey struct{}

func (c *Ctx) context() context.Context {
	if c == nil || c.inv.Parent == nil {
		return context.Background()
	}
	return c.inv.Parent
}

// Deadline returns the caller's deadline.
func (c *Ctx) Deadline() (time.Time, bool) { return c.context().Deadline() }

// Done is closed when the caller's context is canceled.
func (c *Ctx) Done() <-chan struct{} { return c.context().Done() }

// Err returns the caller's context error.
func (c *Ctx) Err() error { return c.context().Err() }

// Value returns the caller's context values.
func (c *Ctx) Value(key any) any {
	if _, ok := key.(ctxKey); ok && c != nil {
		return c
	}
	return c.context().Value(key)
}

// Props returns the props of the binding that made this call (Workers'
// ctx.props): trusted data set by whoever configured the caller, such as its
// identity and permissions. Each invocation gets its own copy, so a callee
// may change it freely. It is nil when the binding has none.
func (c *Ctx) Props() any {
	if c == nil {
		return nil
	}
	if p, ok := c.inv.Parent.(*withProps); ok {
		return p.props
	}
	return nil
}

// withProps carries an invocation's props as the parent of its Ctx, so that
// the Ctx of the common invocation, without props, is smaller by a field.
// Only open makes one, so a Ctx's parent is a *withProps exactly when its
// binding has props.
type withProps struct {
	context.Context
	props any
}

// Depth returns how many invocations deep this one is in its call chain: 1
// for a call from outside any worker.
func (c *Ctx) Depth() int {
	if c == nil {
		return 0
	}
	return int(c.inv.Depth)
}

// PassThroughOnException asks that, should this invocation's Fetch fail with
// an error or a panic, the request be served by the registry's origin
// handler (see [WithOrigin]) instead, as Workers falls back to the origin
// server. Without an origin the failure reaches the caller unchanged. It has
// no effect on RPC calls.
func (c *Ctx) PassThroughOnException() {
	if c != nil {
		c.passThrough.Store(true)
	}
}

// WaitUntil runs task in the background, starting now, as Workers'
// ctx.waitUntil: the invocation's caller gets its result without waiting,
// and the registry's [Registry.Close] waits for the task. The task's context
// keeps the invocation's values but is not canceled when the caller's is; it
// is canceled when the wait of Close runs out, with a cause
// ([context.Cause]) that wraps [ErrClosed]: a task should return soon once
// its context is done. A task's error or panic is logged (see [WithLogger])
// and affects nothing else.
func (c *Ctx) WaitUntil(task func(ctx context.Context) error) {
	if task == nil {
		return
	}
	ep := c.entry()
	if ep == nil || ep.worker.reg == nil {
		go func() { _ = runTask(context.Background(), nil, nil, task) }()
		return
	}
	r := ep.worker.reg
	if !r.track.addTask() {
		r.logger().Error("workers: WaitUntil after Close; task not started", ep.attrs("-")...)
		return
	}
	group := link.TasksOf(c) // the test kit's, waiting for this call's tasks
	r.tasks.Add()
	if group != nil {
		group.Add()
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(c))
	stop := context.AfterFunc(r.drain, func() { cancel(context.Cause(r.drain)) })
	go func() {
		defer r.track.done()
		defer cancel(nil)
		defer stop()
		err := runTask(ctx, r, ep, task)
		r.tasks.Done(nil)
		if group != nil {
			group.Done(err)
		}
	}()
}

// runTask runs a WaitUntil task and logs its failure, which it returns.
func runTask(ctx context.Context, r *Registry, ep *entrypoint, task func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("workers: WaitUntil task panicked: %v", v)
			r.logger().Error("workers: WaitUntil task panicked", append(ep.attrs("-"), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
		}
	}()
	if err = task(ctx); err != nil {
		r.logger().Error("workers: WaitUntil task failed", append(ep.attrs("-"), "error", err)...)
	}
	return err
}

// PropsAs returns the invocation's props as a T. Props of type T are returned
// as they are; JSON-like props (as a wrangler file's props table gives)
// are decoded into T, so a struct with json tags reads them.
func PropsAs[T any](c *Ctx) (T, error) {
	var out T
	p := c.Props()
	if p == nil {
		return out, nil
	}
	if v, ok := p.(T); ok {
		return v, nil
	}
	data, err := json.Marshal(p)
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		return out, fmt.Errorf("workers: props of type %T do not decode into %T: %w", p, out, err)
	}
	return out, nil
}

// depthOf returns the depth of the invocation ctx belongs to, 0 outside one:
// that of its *Ctx, or the depth a transport's serving side gave it.
func depthOf(ctx context.Context) int {
	if c, ok := ctx.(*Ctx); ok && c != nil {
		return int(c.inv.Depth)
	}
	if c, ok := ctx.Value(ctxKey{}).(*Ctx); ok {
		return int(c.inv.Depth)
	}
	return min(transport.Depth(ctx), maxMaxDepth)
}

// isRoot reports whether ctx is context.Background() or context.TODO():
// such a context holds no values and is never done, so a call need not ask
// it, which would cost two calls through the interface: a sixth of a typed
// call. (Comparing interfaces never panics here: it compares values only
// when the dynamic types are the same, and those types are comparable.)
func isRoot(ctx context.Context) bool {
	return ctx == background || ctx == todo
}

var background, todo = context.Background(), context.TODO()
