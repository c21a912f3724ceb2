package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
	"github.com/seed-29c11ff2/workers/transport"
)

// ScheduledEvent is what a worker's Scheduled handler is called with, the
// Go form of Workers' ScheduledController.
type ScheduledEvent struct {
	// Cron is the schedule that fired, as written in the config's
	// [triggers] crons, or whatever [Registry.Scheduled] was given.
	Cron string
	// ScheduledTime is when the event was due, in UTC: for a cron trigger
	// the minute it matched, not the moment the handler started.
	ScheduledTime time.Time
}

// scheduler is the cron handler of a worker, Workers' scheduled(controller).
// Like Fetch it is reserved: the runtime calls it, RPC cannot.
type scheduler interface {
	Scheduled(ctx context.Context, ev ScheduledEvent) error
}

// A Clock is the time source of a registry's cron triggers: when they are
// due and how the registry waits for them. The default is the system's.
// A test passes a fake one (see [WithClock]) to fire triggers without
// waiting for the minute to come.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed, as
	// time.AfterFunc does, unless stop is called first; stop reports
	// whether it prevented the call.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// WithClock sets the clock the registry's cron triggers run by.
func WithClock(c Clock) Option {
	return optionFunc(func(o *options) { o.clock = c })
}

// WithTestScheduled makes [Registry.Handler] serve wrangler's route for
// firing a worker's Scheduled handler by hand: a request to
// /__scheduled?cron=<schedule> (or /cdn-cgi/handler/scheduled) runs it once
// and answers "Ran scheduled event", as wrangler dev --test-scheduled does.
// It is off by default: anyone who can reach the handler could run the
// worker's cron jobs.
func WithTestScheduled() Option {
	return optionFunc(func(o *options) { o.testScheduled = true })
}

func (r *Registry) clock() Clock {
	if r.opts.clock == nil {
		return systemClock{}
	}
	return r.opts.clock
}

// crons are a registry's running cron triggers.
type crons struct {
	mu      sync.Mutex
	stop    chan struct{} // closed by Close
	stopped bool
	loops   sync.WaitGroup
}

// checkCrons parses the schedules of a worker about to be registered.
// They run the default entrypoint's Scheduled, as Workers runs the
// default export's scheduled handler, so that handler must exist.
func checkCrons(name string, specs []string, def *entrypoint) ([]cron.Schedule, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if def == nil || !def.scheduled {
		return nil, fmt.Errorf("%w: worker %q has cron triggers %q, but its default entrypoint has no Scheduled(context.Context, workers.ScheduledEvent) error method", ErrInvalidWorker, name, specs)
	}
	out := make([]cron.Schedule, len(specs))
	for i, spec := range specs {
		s, err := wrangler.ParseCron(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: worker %q: cron trigger %q: %v", ErrInvalidWorker, name, spec, err)
		}
		out[i] = s
	}
	return out, nil
}

// startCrons runs a cron loop for each schedule of wk, until Close. The
// caller holds r.mu.
func (r *Registry) startCrons(wk *worker, specs []string, scheds []cron.Schedule) {
	r.crons.mu.Lock()
	defer r.crons.mu.Unlock()
	if r.crons.stopped {
		return
	}
	if r.crons.stop == nil {
		r.crons.stop = make(chan struct{})
	}
	for i := range scheds {
		r.crons.loops.Add(1)
		go r.cronLoop(wk.def, specs[i], scheds[i], r.crons.stop)
	}
}

// stopCrons stops the cron loops and waits for them to return. Events
// they fired are invocations, which Close waits for as it waits for calls.
func (r *Registry) stopCrons() {
	r.crons.mu.Lock()
	if !r.crons.stopped {
		r.crons.stopped = true
		if r.crons.stop != nil {
			close(r.crons.stop)
		}
	}
	r.crons.mu.Unlock()
	r.crons.loops.Wait()
}

// cronLoop fires ep's Scheduled each time sched comes due.
func (r *Registry) cronLoop(ep *entrypoint, spec string, sched cron.Schedule, stop <-chan struct{}) {
	defer r.crons.loops.Done()
	clock := r.clock()
	for {
		now := clock.Now()
		due := sched.Next(now)
		if due.IsZero() {
			return // no date matches: ParseCron refuses such schedules
		}
		fire := make(chan struct{})
		cancel := clock.AfterFunc(due.Sub(now), func() { close(fire) })
		select {
		case <-stop:
			cancel()
			return
		case <-fire:
		}
		r.fireCron(ep, ScheduledEvent{Cron: spec, ScheduledTime: due.UTC()})
	}
}

// fireCron runs one scheduled event in its own goroutine, as Workers runs
// each trigger's event on its own: a slow handler does not delay the next.
// The invocation is opened here, before the goroutine starts, so that Close
// cannot miss it.
func (r *Registry) fireCron(ep *entrypoint, ev ScheduledEvent) {
	b := &Binding{reg: r, svc: Service{Service: ep.worker.name}}
	if ep.worker.chain != nil {
		// Through the interceptors, which run in the event's goroutine:
		// counted as a task until it is over and logged, so that Close
		// waits for it.
		if !r.track.addTask() {
			return
		}
		go func() {
			defer r.track.done()
			err := r.interceptScheduled(r.drain, b, ep, ev)
			if err != nil && !errors.Is(err, ErrClosed) {
				r.logScheduled(ep.label(), ev.Cron, err)
			}
		}()
		return
	}
	c, inst, err := r.begin(r.drain, b, ep, "Scheduled")
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			r.logScheduled(ep.label(), ev.Cron, err)
		}
		return
	}
	go func() {
		_ = ep.scheduledOnce(c, inst, ev, func(err error) { r.logScheduled(ep.label(), ev.Cron, err) })
	}()
}

// logScheduled logs the failure of a scheduled event, which has no caller
// to return it to.
func (r *Registry) logScheduled(service, cron string, err error) {
	args := []any{"service", service, "cron", cron, "error", err}
	if pe, ok := errors.AsType[*PanicError](err); ok {
		args = append(args, "stack", string(pe.Stack))
	}
	r.logger().Error("workers: scheduled event failed", args...)
}

// scheduledOnce runs Scheduled on the fresh instance of the invocation c,
// which it closes. A failure goes to report, if given, while the
// invocation is still open, so that Close does not return before it is
// logged.
func (ep *entrypoint) scheduledOnce(c *Ctx, inst any, ev ScheduledEvent, report func(error)) (err error) {
	defer c.end()
	if report != nil {
		defer func() {
			if err != nil {
				report(err)
			}
		}()
	}
	defer ep.recoverPanic("Scheduled", &err)
	if inst, err = ep.instance(c, inst); err != nil {
		return err
	}
	return inst.(scheduler).Scheduled(c, ev)
}

// Scheduled runs the Scheduled handler of service's default entrypoint once,
// now, with cron as the event's schedule (any string; it need not be one
// of the worker's triggers), and returns its error. It is how a test or a
// tool fires a cron trigger by hand, as wrangler's /__scheduled route does.
// The run is an invocation like any call: a fresh instance with Env and
// Ctx, ctx's deadline and values and call depth, WaitUntil tasks that Close
// waits for, and a panic returned as a *[PanicError]; it passes the
// interceptors as a call of the method "Scheduled" with the event as its
// argument, as cron triggers do. A worker without the handler fails with
// [ErrNoScheduledHandler].
func (r *Registry) Scheduled(ctx context.Context, service, cron string) error {
	ep, err := r.lookup(Service{Service: service}, "")
	if err != nil {
		return err
	}
	if ep.worker.remote != nil {
		return newError(ErrNoScheduledHandler, "service %q runs in another process: fire its scheduled events where it is registered", service)
	}
	if !ep.scheduled {
		return newError(ErrNoScheduledHandler, "%s: Handler does not export a Scheduled method", ep.display)
	}
	b := &Binding{reg: r, svc: Service{Service: service}}
	ev := ScheduledEvent{Cron: cron, ScheduledTime: r.clock().Now().UTC()}
	if ep.worker.chain != nil {
		return r.interceptScheduled(ctx, b, ep, ev)
	}
	c, inst, err := r.begin(ctx, b, ep, "Scheduled")
	if err != nil {
		return err
	}
	return ep.scheduledOnce(c, inst, ev, nil)
}

// interceptScheduled runs the scheduled event ev of ep through its
// worker's interceptors, as a call of the method "Scheduled" with the
// event as its argument: an interceptor sees it, may refuse it, and may
// pass on another event.
func (r *Registry) interceptScheduled(ctx context.Context, b *Binding, ep *entrypoint, ev ScheduledEvent) error {
	ci := newCallInfo(ctx, b, ep, "Scheduled", []any{ev}, nil)
	ci.target = scheduledRun{r: r, b: b, ep: ep}
	_, err := ep.worker.chain.call(ctx, ci)
	if err != nil && !ci.ran {
		r.refused(ci, err)
	}
	return err
}

// scheduledRun is the innermost step of a scheduled event that passes
// interceptors: the event itself.
type scheduledRun struct {
	r  *Registry
	b  *Binding
	ep *entrypoint
}

func (s scheduledRun) invoke(ctx context.Context, _ string, args []any, _ reflect.Type) (any, error) {
	ev, ok := ScheduledEvent{}, len(args) == 1
	if ok {
		ev, ok = args[0].(ScheduledEvent)
	}
	if !ok {
		return nil, newError(ErrInvalidArgument, "%s Scheduled: an interceptor passed on %d arguments (%T...), not one ScheduledEvent", s.ep.display, len(args), first(args))
	}
	c, inst, err := s.r.begin(ctx, s.b, s.ep, "Scheduled")
	if err != nil {
		return nil, err
	}
	return nil, s.ep.scheduledOnce(c, inst, ev, nil)
}

func (s scheduledRun) info(string) (transport.MethodInfo, error) {
	return transport.MethodInfo{Name: "Scheduled", Params: []reflect.Type{reflect.TypeFor[ScheduledEvent]()}}, nil
}

func first(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

// scheduledRoute serves wrangler's routes for firing a scheduled event by
// hand, and passes every other request to the worker's Fetch.
type scheduledRoute struct {
	reg     *Registry
	service string
	next    http.Handler
}

func (h *scheduledRoute) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/__scheduled" && req.URL.Path != "/cdn-cgi/handler/scheduled" {
		h.next.ServeHTTP(w, req)
		return
	}
	cron := req.URL.Query().Get("cron")
	if err := h.reg.Scheduled(req.Context(), h.service, cron); err != nil {
		// As a failed Fetch: a status and a reference ID; the error, which
		// may hold what the handler saw, goes to the log.
		h.reg.serveError(w, req, Service{Service: h.service}, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Ran scheduled event")
}
