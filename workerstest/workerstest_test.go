package workerstest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
	"github.com/seed-29c11ff2/workers/workerstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ErrSoldOut crosses the wire by name.
var ErrSoldOut = errors.New("sold out")

func init() { remote.RegisterSentinel("workerstest_test.ErrSoldOut", ErrSoldOut) }

type Shop struct{ workers.Entrypoint }

type Order struct {
	Item  string
	Count int
	Note  string `cbor:"-"` // copied in-process, not sent over the wire
}

func (w *Shop) Buy(o Order) (Order, error) {
	if o.Count > 3 {
		return Order{}, fmt.Errorf("buying %d %s: %w", o.Count, o.Item, ErrSoldOut)
	}
	o.Count *= 10
	return o, nil
}

func (w *Shop) Each(f func(string)) { f("one") }

func (w *Shop) Depth() int { return w.Ctx.Depth() }

func setupShop(t testing.TB, reg *workers.Registry) {
	require.NoError(t, reg.Register("shop", workers.Worker{Default: workers.New[Shop]()}))
}

// One test, run against the workers in-process, serialized, served in
// memory over HTTP/2, and served by another process: what crosses, and
// what fails, is the same wherever the worker runs, except where a real
// deployment would differ, which the serialized mode catches in-process.
func TestRun(t *testing.T) {
	workerstest.Run(t, setupShop, func(t *testing.T, reg *workers.Registry) {
		mode := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		ctx := context.Background()
		shop := reg.Bind(workers.Service{Service: "shop"})

		o, err := workers.Call[Order](ctx, shop, "Buy", Order{Item: "tea", Count: 2, Note: "n"})
		require.NoError(t, err)
		assert.Equal(t, "tea", o.Item)
		assert.Equal(t, 20, o.Count)
		assert.Equal(t, mode == "local", o.Note == "n", "a field the encoding skips crosses only in-process")

		_, err = workers.Call[Order](ctx, shop, "Buy", Order{Item: "tea", Count: 5})
		assert.ErrorIs(t, err, ErrSoldOut)
		assert.ErrorContains(t, err, "buying 5 tea")

		var got []string
		_, err = shop.Call(ctx, "Each", func(s string) { got = append(got, s) })
		assert.NoError(t, err, "a func crosses by reference in every mode")
		assert.Equal(t, []string{"one"}, got, "the callee called back")
		d, err := workers.Call[int](ctx, shop, "Depth")
		require.NoError(t, err)
		assert.Equal(t, 1, d)
	})
}

// Run's subtests are the modes asked for.
func TestRunModes(t *testing.T) {
	var ran []string
	workerstest.Run(t, setupShop, func(t *testing.T, reg *workers.Registry) {
		ran = append(ran, t.Name())
	}, workerstest.InProcess, workerstest.InMemoryRemote)
	assert.Equal(t, []string{"TestRunModes/local", "TestRunModes/remote"}, ran)
}

type Store struct{ workers.Entrypoint }

func (w *Store) Describe() (string, error) {
	db, _ := w.Env.Get("DB")
	region := w.Env.Var("REGION")
	audited, err := workers.Call[string](w.Ctx, w.Env.Service("AUDIT"), "Record", "describe")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%v %s %s", db, region, audited), nil
}

type fakeDB struct{ name string }

func (f fakeDB) String() string { return "fakeDB(" + f.name + ")" }

type auditor struct{ got atomic.Value }

func (a *auditor) Record(ctx context.Context, what string) string {
	a.got.Store(what)
	return "audited " + what
}

// Load replaces a D1 database, a var and a service binding for one test;
// the service's props reach the fake's calls.
func TestLoadReplaces(t *testing.T) {
	reg := workerstest.New(t)
	a := &auditor{}
	workerstest.Load(t, reg, "testdata/store/wrangler.toml", workers.Worker{Default: workers.New[Store]()},
		workerstest.Binding("DB", fakeDB{name: "mem"}),
		workerstest.Binding("REGION", "test"),
		workerstest.Service("AUDIT", a),
	)
	got, err := workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "store"}), "Describe")
	require.NoError(t, err)
	assert.Equal(t, "fakeDB(mem) test audited describe", got)
	assert.Equal(t, "describe", a.got.Load())
}

// A binding that the worker does not have is a mistake in the test.
func TestLoadUnknownBinding(t *testing.T) {
	ft := &fatalT{TB: t}
	func() {
		defer func() { _ = recover() }()
		workerstest.Load(ft, workerstest.New(t), "testdata/store/wrangler.toml", workers.Worker{Default: workers.New[Store]()},
			workerstest.Binding("NOPE", 1))
	}()
	assert.Contains(t, ft.fatal, `worker "store" has no binding "NOPE" to replace`)
}

type fatalT struct {
	testing.TB
	fatal string
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic("fatal")
}

type Mailer struct{ workers.Entrypoint }

var release = make(chan struct{})

func (w *Mailer) Send(to string) string {
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		if to == "bad" {
			return errors.New("bounced: " + to)
		}
		if to == "slow" {
			<-release
		}
		return nil
	})
	return "ok"
}

// Relay sends through the MAILER binding: its tasks are the caller's too.
func (w *Mailer) Relay(to string) (string, error) {
	return workers.Call[string](w.Ctx, w.Env.Service("SELF"), "Send", to)
}

// The tasks of one call, including those of the calls it made, are waited
// for with their errors; WaitAll waits for every task; neither closes the
// registry.
func TestTasks(t *testing.T) {
	release = make(chan struct{})
	reg := workerstest.New(t)
	require.NoError(t, reg.Register("mail", workers.Worker{
		Default:  workers.New[Mailer](),
		Services: []workers.Service{{Binding: "SELF", Service: "mail"}},
	}))
	mail := reg.Bind(workers.Service{Service: "mail"})

	ctx, tasks := workerstest.Tasks(t.Context())
	_, err := mail.Call(ctx, "Relay", "bad")
	require.NoError(t, err)
	_, err = mail.Call(ctx, "Send", "good")
	require.NoError(t, err)
	assert.EqualError(t, tasks.Wait(ctx), "bounced: bad")

	_, err = mail.Call(t.Context(), "Send", "slow")
	require.NoError(t, err)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, workerstest.WaitAll(short, reg), context.DeadlineExceeded, "the slow task is still running")
	close(release)
	require.NoError(t, workerstest.WaitAll(t.Context(), reg))
	_, err = mail.Call(t.Context(), "Send", "after")
	require.NoError(t, err, "the registry is still open")
}

// A fake that is an http.Handler serves Fetch, in-process and remote.
func TestFakeFetch(t *testing.T) {
	server := workerstest.New(t)
	workerstest.Fake(t, server, "site", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "page %s", r.URL.Path)
	}))
	caller := workerstest.New(t)
	workerstest.Connect(t, server, caller)
	for _, reg := range []*workers.Registry{server, caller} {
		req, err := http.NewRequest(http.MethodGet, "http://site/a", nil)
		require.NoError(t, err)
		resp, err := reg.Bind(workers.Service{Service: "site"}).Fetch(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "page /a", string(body))
	}
}

// Outbox is a Durable Object that sends in the background.
type Outbox struct{ workers.DurableObject }

func (o *Outbox) Send(to string) string {
	o.State.WaitUntil(func(ctx context.Context) error { return errors.New("object bounced: " + to) })
	return "ok"
}

// Post reaches the OUTBOX object of a name.
type Post struct{ workers.Entrypoint }

func (w *Post) Send(to string) (string, error) {
	return workers.Call[string](w.Ctx, w.Env.DurableObject("OUTBOX").GetByName(to), "Send", to)
}

// A group of tasks counts those that Durable Object calls start, and
// those of calls served for a remote peer in this process.
func TestTasksOfObjectsAndServedCalls(t *testing.T) {
	server := workerstest.New(t)
	require.NoError(t, server.Register("post", workers.Worker{
		Default:               workers.New[Post](),
		DurableObjects:        map[string]workers.Constructor{"Outbox": workers.New[Outbox]()},
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "OUTBOX", ClassName: "Outbox"}},
	}))
	require.NoError(t, server.Register("mail", workers.Worker{
		Default:  workers.New[Mailer](),
		Services: []workers.Service{{Binding: "SELF", Service: "mail"}},
	}))
	caller := workerstest.New(t)
	workerstest.Connect(t, server, caller)

	for _, c := range []struct {
		name string
		reg  *workers.Registry
		svc  string
		want string
	}{
		{"durable object", server, "post", "object bounced: a"},
		{"served for a peer", caller, "mail", "bounced: bad"},
		{"durable object served for a peer", caller, "post", "object bounced: a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, tasks := workerstest.Tasks(t.Context())
			to := "a"
			if c.svc == "mail" {
				to = "bad"
			}
			_, err := c.reg.Bind(workers.Service{Service: c.svc}).Call(ctx, "Send", to)
			require.NoError(t, err)
			assert.EqualError(t, tasks.Wait(ctx), c.want)
		})
	}
}
