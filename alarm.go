package workers

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/seed-29c11ff2/workers/internal/dostore"
	"github.com/seed-29c11ff2/workers/internal/link"
)

// Alarms. An object's alarm time is kept in its own file, the authority; a
// per-class index (<class dir>/alarms.sqlite) names the objects that may
// have one, so that when the class is registered again after a restart its
// pending alarms are scheduled without opening every object. The index is
// written before the object's file and cleaned after it, so it may name an
// object whose alarm is gone (the object's file then says so), never miss
// one. Each pending alarm is a timer in this process; when it fires, the
// alarm runs as a call of the object, in its turn.

// alarmTimer is one scheduled alarm.
type alarmTimer struct {
	timer *time.Timer
	at    int64 // Unix nanoseconds
	retry int   // how many times the alarm has failed before this run
}

func (c *doClass) indexPath() string { return filepath.Join(c.dir, "alarms.sqlite") }

// openIndex opens the class's alarm index on first use. The caller holds c.mu.
func (c *doClass) openIndex() (*dostore.Index, error) {
	if c.index == nil {
		x, err := dostore.OpenIndex(c.indexPath(), c.storeOptions())
		if err != nil {
			return nil, err
		}
		c.index = x
	}
	return c.index, nil
}

func (c *doClass) indexSet(ctx context.Context, id DurableObjectID, at int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return newError(ErrClosed, "%s: the registry is closed", c.display)
	}
	x, err := c.openIndex()
	if err != nil {
		return err
	}
	return x.Set(ctx, id.String(), at)
}

// indexDelete forgets id in the index. A failure leaves an entry the
// object's file will contradict, so it is only logged.
func (c *doClass) indexDelete(ctx context.Context, id DurableObjectID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.index == nil {
		return
	}
	if err := c.index.Delete(ctx, id.String()); err != nil {
		c.reg.logger().Warn("workers: durable object alarm index", "object", c.display, "id", id.String(), "error", err)
	}
}

// schedule (re)sets the timer of id's alarm.
func (c *doClass) schedule(id DurableObjectID, at int64, retry int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if old := c.timers[id.raw]; old != nil {
		old.timer.Stop()
	}
	t := &alarmTimer{at: at, retry: retry}
	t.timer = time.AfterFunc(max(time.Until(time.Unix(0, at)), 0), func() { c.fire(id, t) })
	c.timers[id.raw] = t
}

func (c *doClass) unschedule(id DurableObjectID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timers[id.raw]; t != nil {
		t.timer.Stop()
		delete(c.timers, id.raw)
	}
}

// resyncAlarm makes the timer of id agree with its file again, after a
// transaction that set or deleted the alarm rolled back.
func (c *doClass) resyncAlarm(id DurableObjectID, st *dostore.Store) {
	ctx := context.Background()
	at, ok, err := st.Alarm(ctx)
	switch {
	case err != nil:
		c.reg.logger().Error("workers: durable object alarm unreadable", "object", c.display, "id", id.String(), "error", err)
	case ok:
		if err := c.indexSet(ctx, id, at); err != nil {
			c.reg.logger().Error("workers: durable object alarm index", "object", c.display, "id", id.String(), "error", err)
		}
		c.schedule(id, at, 0)
	default:
		c.unschedule(id)
	}
}

// loadAlarms schedules the alarms the index names, as they were before a
// restart. A class that never had one has no index, and none is made.
func (c *doClass) loadAlarms() {
	if !fileExists(c.indexPath()) {
		return
	}
	c.mu.Lock()
	x, err := c.openIndex()
	c.mu.Unlock()
	if err != nil {
		c.reg.logger().Error("workers: durable object alarm index unreadable; alarms set before the restart will not run", "object", c.display, "error", err)
		return
	}
	all, err := x.All(context.Background())
	if err != nil {
		c.reg.logger().Error("workers: durable object alarm index unreadable; alarms set before the restart will not run", "object", c.display, "error", err)
		return
	}
	for s, at := range all {
		var id DurableObjectID
		if _, err := hex.Decode(id.raw[:], []byte(s)); err != nil || len(s) != idHexLen || !id.belongs(&c.key) {
			c.reg.logger().Warn("workers: durable object alarm index names a foreign ID; ignored", "object", c.display, "id", s)
			continue
		}
		c.schedule(id, at, 0)
	}
}

// fire runs the alarm t of id, unless another was scheduled since.
func (c *doClass) fire(id DurableObjectID, t *alarmTimer) {
	c.mu.Lock()
	if c.closed || c.timers[id.raw] != t {
		c.mu.Unlock()
		return
	}
	delete(c.timers, id.raw)
	c.mu.Unlock()
	r := c.reg
	if !r.track.begin() {
		return // closing: the alarm stays stored, and runs after a restart
	}
	defer r.track.done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer context.AfterFunc(r.drain, cancel)()
	var a *actor
	for {
		var err error
		if a, err = c.hold(id); err != nil {
			return
		}
		if err := a.wait(ctx, "Alarm"); err != nil {
			c.release(a)
			return
		}
		if !a.dead.Load() {
			break
		}
		a.turn.release()
		c.release(a)
	}
	defer c.release(a)
	defer a.leave()
	c.runAlarm(ctx, a, t)
}

// runAlarm runs the object's Alarm if its stored alarm is due, retrying
// later when it fails. The caller holds the object's turn.
func (c *doClass) runAlarm(ctx context.Context, a *actor, t *alarmTimer) {
	log := c.reg.logger()
	st, err := a.storage.store()
	if err != nil {
		log.Error("workers: durable object alarm not run", "object", c.display, "id", a.id.String(), "error", err)
		return
	}
	at, ok, err := st.Alarm(ctx)
	switch {
	case err != nil:
		log.Error("workers: durable object alarm not run", "object", c.display, "id", a.id.String(), "error", err)
		return
	case !ok:
		c.indexDelete(ctx, a.id)
		return
	case time.Until(time.Unix(0, at)) > 0:
		c.schedule(a.id, at, 0) // moved later since the timer was set
		return
	}
	retry := 0
	if at == t.at {
		retry = t.retry
	}
	// As in Workers, the alarm is no longer set while Alarm runs, and
	// Alarm may set the next one.
	if err := st.DeleteAlarm(ctx); err != nil {
		log.Error("workers: durable object alarm not run", "object", c.display, "id", a.id.String(), "error", err)
		c.schedule(a.id, at, retry)
		return
	}
	err = c.invokeAlarm(ctx, a)
	if _, again, _ := st.Alarm(ctx); again {
		if err != nil {
			log.Error("workers: durable object Alarm failed; it set another alarm, which replaces the retry", "object", c.display, "id", a.id.String(), "error", err)
		}
		return // scheduled by its SetAlarm
	}
	if err == nil {
		c.indexDelete(ctx, a.id)
		return
	}
	if retry >= AlarmRetries {
		log.Error("workers: durable object Alarm failed; no retries left", "object", c.display, "id", a.id.String(), "retries", retry, "error", err)
		c.indexDelete(ctx, a.id)
		return
	}
	backoff := c.reg.opts.alarmBackoff
	if backoff <= 0 {
		backoff = DefaultAlarmBackoff
	}
	next := time.Now().Add(backoff << retry).UnixNano()
	log.Warn("workers: durable object Alarm failed; retrying", "object", c.display, "id", a.id.String(), "retry", retry+1, "in", backoff<<retry, "error", err)
	if err := st.SetAlarm(ctx, next); err != nil {
		log.Error("workers: durable object alarm retry not stored", "object", c.display, "id", a.id.String(), "error", err)
	}
	c.schedule(a.id, next, retry+1)
}

// invokeAlarm calls the object's Alarm as a call from outside any
// invocation. The caller holds the object's turn.
func (c *doClass) invokeAlarm(ctx context.Context, a *actor) (err error) {
	var inv link.Invocation
	if err := c.reg.open(ctx, nil, c.ep, "Alarm", &inv); err != nil {
		return err
	}
	cc := &callCtx{c: Ctx{inv: inv}}
	cc.tc = turnCtx{Context: inv.Parent, t: turn{a: a}}
	cc.c.inv.Parent = &cc.tc
	defer c.ep.finishTarget(&cc.c, &inv, "Alarm", &err)
	defer cc.tc.t.done.Store(true)
	if a.inst == nil {
		if err := a.build(ctx); err != nil {
			return err
		}
	}
	_, err = c.ep.callReflect(ctx, &cc.c, c.alarm, a.inst, make([]reflect.Value, 2))
	return err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
