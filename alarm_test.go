package workers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
)

// Clock counts its alarms; it fails the first "fail" of them, and sets the
// next alarm itself while "repeat" is positive.
type Clock struct{ workers.DurableObject }

func (c *Clock) Set(ctx context.Context, in time.Duration, fail, repeat int) error {
	s := c.State.Storage()
	if err := s.Put(ctx, "fail", fail); err != nil {
		return err
	}
	if err := s.Put(ctx, "repeat", repeat); err != nil {
		return err
	}
	return s.SetAlarm(ctx, time.Now().Add(in))
}

func (c *Clock) Cancel(ctx context.Context) error { return c.State.Storage().DeleteAlarm(ctx) }

func (c *Clock) Alarm(ctx context.Context) error {
	s := c.State.Storage()
	runs, _, err := workers.StorageGet[int](ctx, s, "runs")
	if err != nil {
		return err
	}
	if err := s.Put(ctx, "runs", runs+1); err != nil {
		return err
	}
	if _, set, err := s.GetAlarm(ctx); err != nil || set {
		return errors.Join(err, errors.New("the alarm is still set while Alarm runs"))
	}
	fail, _, _ := workers.StorageGet[int](ctx, s, "fail")
	if fail > 0 {
		_ = s.Put(ctx, "fail", fail-1)
		return errors.New("not yet")
	}
	repeat, _, _ := workers.StorageGet[int](ctx, s, "repeat")
	if repeat > 0 {
		_ = s.Put(ctx, "repeat", repeat-1)
		return s.SetAlarm(ctx, time.Now().Add(time.Millisecond))
	}
	return nil
}

func (c *Clock) Runs(ctx context.Context) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, c.State.Storage(), "runs")
	return n, err
}

func (c *Clock) Pending(ctx context.Context) (bool, error) {
	_, ok, err := c.State.Storage().GetAlarm(ctx)
	return ok, err
}

func clocks(t testing.TB, dir string, opts ...workers.Option) *workers.DurableObjectNamespace {
	t.Helper()
	opts = append([]workers.Option{workers.WithAlarmBackoff(time.Millisecond), workers.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	reg := doRegistryAt(t, dir, opts...)
	register(t, reg, "clk", workers.Worker{DurableObjects: map[string]workers.Constructor{"Clock": workers.New[Clock]()}})
	return reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "clk", ClassName: "Clock"})
}

func runs(t testing.TB, s *workers.Stub) int {
	n, err := workers.Call[int](context.Background(), s, "Runs")
	require.NoError(t, err)
	return n
}

func TestAlarmRuns(t *testing.T) {
	ns := clocks(t, t.TempDir())
	s := ns.GetByName("a")
	ctx := context.Background()
	require.NoError(t, errOnly(s.Call(ctx, "Set", 200*time.Millisecond, 0, 0)))
	pending, err := workers.Call[bool](ctx, s, "Pending")
	require.NoError(t, err)
	assert.True(t, pending)
	require.Eventually(t, func() bool { return runs(t, s) == 1 }, 5*time.Second, 5*time.Millisecond)
	pending, err = workers.Call[bool](ctx, s, "Pending")
	require.NoError(t, err)
	assert.False(t, pending, "a run alarm is no longer set")

	// An alarm that sets the next one runs again.
	require.NoError(t, errOnly(s.Call(ctx, "Set", time.Millisecond, 0, 2)))
	require.Eventually(t, func() bool { return runs(t, s) == 4 }, 5*time.Second, 5*time.Millisecond)

	// A deleted alarm does not run.
	b := ns.GetByName("b")
	require.NoError(t, errOnly(b.Call(ctx, "Set", 30*time.Millisecond, 0, 0)))
	require.NoError(t, errOnly(b.Call(ctx, "Cancel")))
	time.Sleep(60 * time.Millisecond)
	assert.Zero(t, runs(t, b))
}

func TestAlarmRetriedWithBackoff(t *testing.T) {
	ns := clocks(t, t.TempDir())
	ctx := context.Background()

	// Fails twice, then succeeds on the second retry.
	s := ns.GetByName("flaky")
	require.NoError(t, errOnly(s.Call(ctx, "Set", time.Millisecond, 2, 0)))
	require.Eventually(t, func() bool { return runs(t, s) == 3 }, 5*time.Second, 5*time.Millisecond)

	// Always fails: the first run and 6 retries (1+2+...+32 ms of backoff).
	d := ns.GetByName("doomed")
	start := time.Now()
	require.NoError(t, errOnly(d.Call(ctx, "Set", time.Millisecond, 1000, 0)))
	require.Eventually(t, func() bool { return runs(t, d) == 1+workers.AlarmRetries }, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 63*time.Millisecond, "exponential backoff")
	time.Sleep(150 * time.Millisecond) // longer than the next backoff would be
	assert.Equal(t, 1+workers.AlarmRetries, runs(t, d), "no more retries")
	pending, err := workers.Call[bool](ctx, d, "Pending")
	require.NoError(t, err)
	assert.False(t, pending)
}

// An alarm set before a restart runs after it, whether it fell due while
// the process was down or falls due later.
func TestAlarmSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	reg := workers.NewRegistry(workers.WithStateDir(dir))
	register(t, reg, "clk", workers.Worker{DurableObjects: map[string]workers.Constructor{"Clock": workers.New[Clock]()}})
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "clk", ClassName: "Clock"})
	ctx := context.Background()
	require.NoError(t, errOnly(ns.GetByName("due").Call(ctx, "Set", 10*time.Millisecond, 0, 0)))
	require.NoError(t, errOnly(ns.GetByName("later").Call(ctx, "Set", 300*time.Millisecond, 0, 0)))
	require.NoError(t, reg.Close(ctx))
	time.Sleep(20 * time.Millisecond)

	ns2 := clocks(t, dir)
	due, later := ns2.GetByName("due"), ns2.GetByName("later")
	require.Eventually(t, func() bool { return runs(t, due) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, runs(t, later), "not due yet")
	require.Eventually(t, func() bool { return runs(t, later) == 1 }, 5*time.Second, 5*time.Millisecond)
}

// NoAlarm has no Alarm method.
type NoAlarm struct{ workers.DurableObject }

func (n *NoAlarm) Set(ctx context.Context) error {
	return n.State.Storage().SetAlarm(ctx, time.Now())
}

func TestSetAlarmWithoutAlarmMethod(t *testing.T) {
	reg := doRegistry(t)
	register(t, reg, "n", workers.Worker{DurableObjects: map[string]workers.Constructor{"NoAlarm": workers.New[NoAlarm]()}})
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "n", ClassName: "NoAlarm"})
	err := errOnly(ns.GetByName("x").Call(context.Background(), "Set"))
	assert.ErrorIs(t, err, workers.ErrInvalidArgument)
	assert.ErrorContains(t, err, "SetAlarm: type workers_test.NoAlarm has no Alarm(ctx context.Context) error method")
}
