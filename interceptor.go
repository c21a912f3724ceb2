package workers

import (
	"context"
	"net/http"
	"reflect"

	"github.com/seed-29c11ff2/workers/transport"
)

// CallInfo describes one invocation to the interceptors that wrap it: who
// calls what, with what. An interceptor may replace Args and Props before
// it calls on; the invocation runs with what the innermost function
// receives. It must not keep Args past the call.
type CallInfo struct {
	Service    string // the worker called; "" for a call through a stub
	Entrypoint string // "" for the default entrypoint
	Target     string // for a call through a stub: the RpcTarget's type, such as "*main.Counter", or the Durable Object class
	Method     string // "" for Fetch
	// Caller is the worker whose binding or invocation makes the call; ""
	// outside any worker. For a call served for another process (package
	// remote) it is the name the peer reports for its worker: informational
	// only, since the peer's credential, not this name, is what the handler
	// authorizes, and whoever holds the credential may send any name.
	Caller string
	Props  any          // the binding's props; nil when it has none
	Depth  int          // the callee's depth in its call chain: 1 for a call from outside any worker
	Args   []any        // the arguments, as the caller passed them; nil for Fetch
	Result reflect.Type // the result type the caller asked for (Call[R]), or nil for any
	Remote bool         // the callee runs in another process, reached through a transport

	reg    *Registry   // the registry that makes the call
	b      *Binding    // the binding called through, or nil
	ep     *entrypoint // what b resolved to
	target invoker     // the stub's target, or nil
	ran    bool        // the call got past every interceptor
}

// A CallFunc makes an RPC call: the invocation itself, or the next
// interceptor on its way.
type CallFunc func(ctx context.Context, call *CallInfo) (any, error)

// A FetchFunc makes a Fetch: the invocation itself, or the next interceptor
// on its way. The request's context is the call's.
type FetchFunc func(req *http.Request, call *CallInfo) (*http.Response, error)

// An Interceptor wraps the calls and fetches of a registry, as net/http
// middleware wraps a handler and connect-go's interceptors wrap its
// procedures: to observe each invocation (logs, traces, metrics) or to
// apply a policy to it. An interceptor that returns an error without
// calling next refuses the call: the method does not run, and the caller
// gets that error.
//
// Interceptors see every call a registry makes or serves: [Binding.Call]
// and [Call], typed clients (which then take the by-name path), calls
// through stubs (of this process's objects and of a remote peer's),
// [Binding.Fetch], the calls that package remote's handler serves, and
// scheduled events (cron triggers, [Registry.Scheduled]), which are calls
// of the method "Scheduled" whose one argument is the [ScheduledEvent]. They run in the caller's goroutine, before the runtime's
// own checks (depth, Close), so they see calls that those refuse too.
//
// A registry without interceptors pays nothing for them.
type Interceptor interface {
	WrapCall(next CallFunc) CallFunc
	WrapFetch(next FetchFunc) FetchFunc
}

// CallInterceptorFunc is an [Interceptor] of RPC calls only; fetches pass
// it by.
type CallInterceptorFunc func(next CallFunc) CallFunc

// WrapCall returns f(next).
func (f CallInterceptorFunc) WrapCall(next CallFunc) CallFunc { return f(next) }

// WrapFetch returns next.
func (f CallInterceptorFunc) WrapFetch(next FetchFunc) FetchFunc { return next }

// FetchInterceptorFunc is an [Interceptor] of fetches only; RPC calls pass
// it by.
type FetchInterceptorFunc func(next FetchFunc) FetchFunc

// WrapCall returns next.
func (f FetchInterceptorFunc) WrapCall(next CallFunc) CallFunc { return next }

// WrapFetch returns f(next).
func (f FetchInterceptorFunc) WrapFetch(next FetchFunc) FetchFunc { return f(next) }

// WithInterceptors adds interceptors to every call and fetch of the
// registry. The first is outermost: it sees the call first and its result
// last. A worker's own interceptors ([Worker].Interceptors) run inside
// these, for the calls to that worker.
func WithInterceptors(ics ...Interceptor) Option {
	return optionFunc(func(o *options) {
		for _, ic := range ics {
			if ic != nil {
				o.interceptors = append(o.interceptors, ic)
			}
		}
	})
}

// chain is a worker's interceptors, wrapped around the invocation once.
type chain struct {
	call  CallFunc
	fetch FetchFunc
}

// newChain wraps ics around the invocation; nil when there are none, so
// that the call path tests one pointer.
func newChain(ics ...[]Interceptor) *chain {
	c := &chain{call: callNext, fetch: fetchNext}
	n := 0
	for i := len(ics) - 1; i >= 0; i-- {
		for j := len(ics[i]) - 1; j >= 0; j-- {
			if ic := ics[i][j]; ic != nil {
				c.call, c.fetch = ic.WrapCall(c.call), ic.WrapFetch(c.fetch)
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return c
}

// invoker is a stub's target that interceptors wrap: an RpcTarget of this
// process, a Durable Object.
type invoker interface {
	// invoke is the target's call past any interceptors.
	invoke(ctx context.Context, method string, args []any, result reflect.Type) (any, error)
	// info describes its method name.
	info(method string) (transport.MethodInfo, error)
}

// callNext is the innermost CallFunc: the invocation itself.
func callNext(ctx context.Context, ci *CallInfo) (any, error) {
	ci.ran = true
	if ci.target != nil {
		return ci.target.invoke(ctx, ci.Method, ci.Args, ci.Result)
	}
	return ci.binding().callResolved(ctx, ci.ep, ci.Method, ci.Args, ci.Result)
}

// fetchNext is the innermost FetchFunc: the invocation itself.
func fetchNext(req *http.Request, ci *CallInfo) (*http.Response, error) {
	ci.ran = true
	if req == nil {
		return nil, newError(ErrInvalidArgument, "Fetch: an interceptor passed on a nil request")
	}
	return ci.binding().fetchResolved(req, ci.ep)
}

// binding returns the Binding to call through: ci's own, or a copy with
// the props an interceptor may have set.
func (ci *CallInfo) binding() *Binding {
	b := ci.b
	if ci.Props == nil && b.svc.Props == nil {
		return b
	}
	nb := &Binding{reg: b.reg, svc: b.svc, from: b.from}
	nb.svc.Props = ci.Props
	nb.ep.Store(ci.ep)
	return nb
}

// newCallInfo describes a call through b to ep, made with ctx.
func newCallInfo(ctx context.Context, b *Binding, ep *entrypoint, method string, args []any, result reflect.Type) *CallInfo {
	return &CallInfo{
		Service:    ep.worker.name,
		Entrypoint: ep.name,
		Method:     method,
		Caller:     callerOf(ctx, b.from),
		Props:      b.svc.Props,
		Depth:      nextDepth(ctx),
		Args:       append([]any(nil), args...), // so that args stays on the caller's stack
		Result:     result,
		Remote:     ep.worker.remote != nil,
		reg:        b.reg,
		b:          b,
		ep:         ep,
	}
}

// callerOf names the worker that makes a call with ctx: from, the worker
// whose binding it is; else the invocation ctx belongs to; else, for a call
// a transport serves, the caller the peer reported (transport.WithCaller).
func callerOf(ctx context.Context, from string) string {
	if from != "" || ctx == nil || isRoot(ctx) {
		return from
	}
	if c := invocationOf(ctx); c != nil {
		if ep := c.entry(); ep != nil {
			return ep.worker.name
		}
		return ""
	}
	return transport.CallerOf(ctx)
}

// nextDepth is the depth of an invocation made with ctx.
func nextDepth(ctx context.Context) int {
	if ctx == nil || isRoot(ctx) {
		return 1
	}
	return depthOf(ctx) + 1
}

// intercept makes a call through b to ep through its worker's interceptors.
func (b *Binding) intercept(ctx context.Context, ep *entrypoint, name string, args []any, result reflect.Type) (any, error) {
	ci := newCallInfo(ctx, b, ep, name, args, result)
	out, err := ep.worker.chain.call(ctx, ci)
	if err != nil && !ci.ran {
		b.reg.refused(ci, err)
	}
	return out, err
}

// interceptFetch sends req through b to ep through its worker's
// interceptors.
func (b *Binding) interceptFetch(req *http.Request, ep *entrypoint) (*http.Response, error) {
	ci := newCallInfo(req.Context(), b, ep, "", nil, nil)
	ci.Args = nil
	resp, err := ep.worker.chain.fetch(req, ci)
	if err != nil && !ci.ran {
		b.reg.refused(ci, err)
	}
	return resp, err
}

// interceptTarget makes a call on a stub's target through the interceptors
// of ch, with ci filled by the caller but for what the context says.
func (r *Registry) interceptTarget(ctx context.Context, ch *chain, ci *CallInfo, args []any) (any, error) {
	ci.reg = r
	ci.Caller = callerOf(ctx, "")
	ci.Depth = nextDepth(ctx)
	ci.Args = append([]any(nil), args...) // so that args stays on the caller's stack
	out, err := ch.call(ctx, ci)
	if err != nil && !ci.ran {
		r.refused(ci, err)
	}
	return out, err
}

// refused logs a call that an interceptor refused.
func (r *Registry) refused(ci *CallInfo, err error) {
	r.logger().Warn("workers: call refused by an interceptor", ci.attrs(err)...)
}

// attrs are ci's structured attributes for the registry's logger.
func (ci *CallInfo) attrs(err error) []any {
	a := make([]any, 0, 14)
	if ci.Service != "" {
		a = append(a, "service", ci.Service)
	}
	if ci.Entrypoint != "" {
		a = append(a, "entrypoint", ci.Entrypoint)
	}
	if ci.Target != "" {
		a = append(a, "target", ci.Target)
	}
	method := ci.Method
	if method == "" {
		method = "Fetch"
	}
	a = append(a, "method", method)
	if ci.Caller != "" {
		a = append(a, "caller", ci.Caller)
	}
	a = append(a, "depth", ci.Depth)
	if err != nil {
		a = append(a, "error", err)
	}
	return a
}
