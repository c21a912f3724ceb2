package workerstest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/workerstest"
)

// Greeter is the worker under test: it greets people by id, their names
// from the NAMES service.
type Greeter struct{ workers.Entrypoint }

func (w *Greeter) Greet(id int) (string, error) {
	name, err := workers.Call[string](w.Ctx, w.Env.Service("NAMES"), "Lookup", id)
	if err != nil {
		return "", err
	}
	return w.Env.Var("GREETING") + name, nil
}

// Welcome answers at once and sends the welcome in the background.
func (w *Greeter) Welcome(name string) string {
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		outbox <- "welcome mail sent to " + name
		return nil
	})
	return "queued"
}

var outbox = make(chan string, 10)

// Remember takes a callback, which cannot reach a remote worker.
func (w *Greeter) Remember(cb func() string) string { return cb() }

// ErrNoGuests is an error the remote encoding does not know by name.
var ErrNoGuests = errors.New("no guests")

// Party fails with ErrNoGuests.
func (w *Greeter) Party() error { return ErrNoGuests }

// exampleT stands in for the *testing.T of a real test: Examples have
// none. It runs the cleanups at finish, as a test's end does. The
// testing.TB it embeds is nil: it has the methods the kit and these
// Examples use, and is a testing.TB only so that workerstest.Run takes it.
type exampleT struct {
	testing.TB
	cleanups []func()
	dir      string
	name     string
}

func newExampleT() *exampleT {
	dir, _ := os.MkdirTemp("", "workerstest-example")
	return &exampleT{dir: dir, name: "Example"}
}

func (t *exampleT) Helper()          {}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) TempDir() string  { return t.dir }
func (t *exampleT) Name() string     { return t.name }

// Run runs f as a subtest, as testing.T.Run does.
func (t *exampleT) Run(name string, f func(t *exampleT)) bool {
	sub := newExampleT()
	sub.name = t.name + "/" + name
	defer sub.finish()
	f(sub)
	return true
}
func (t *exampleT) Log(args ...any)                {}
func (t *exampleT) Errorf(format string, a ...any) { fmt.Printf("error: "+format+"\n", a...) }
func (t *exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	_ = os.RemoveAll(t.dir)
}

func ExampleNew() {
	t := newExampleT() // in a test: t is the test's *testing.T
	defer t.finish()

	reg := workerstest.New(t) // state under t.TempDir(), closed when the test ends
	workerstest.Fake(t, reg, "names", map[string]any{"Lookup": func(id int) string { return "Ada" }})
	if err := reg.Register("greeter", workers.Worker{
		Default:  workers.New[Greeter](),
		Vars:     map[string]any{"GREETING": "Hi, "},
		Services: []workers.Service{{Binding: "NAMES", Service: "names"}},
	}); err != nil {
		panic(err)
	}
	fmt.Println(workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "greeter"}), "Greet", 1))
	// Output: Hi, Ada <nil>
}

func ExampleLoad() {
	t := newExampleT()
	defer t.finish()

	reg := workerstest.New(t)
	workerstest.Load(t, reg, "testdata/greeter/wrangler.toml", workers.Worker{Default: workers.New[Greeter]()},
		// The NAMES service binding reaches a func, for this test only.
		workerstest.Service("NAMES", func(ctx context.Context, method string, args []any) (any, error) {
			if args[0] == 7 {
				return "Grace", nil
			}
			return nil, errors.New("no such person")
		}))
	greeter := reg.Bind(workers.Service{Service: "greeter"})
	fmt.Println(workers.Call[string](context.Background(), greeter, "Greet", 7))
	fmt.Println(workers.Call[string](context.Background(), greeter, "Greet", 8))
	// Output:
	// Hello, Grace <nil>
	//  no such person
}

func ExampleFake() {
	t := newExampleT()
	defer t.finish()

	reg := workerstest.New(t)
	// Any Go value: its methods are the fake service's.
	workerstest.Fake(t, reg, "names", strings.NewReplacer()) // has Replace(string) string
	fmt.Println(workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "names"}), "Replace", "as it is"))
	_, err := reg.Bind(workers.Service{Service: "names"}).Call(context.Background(), "Lookup", 1)
	fmt.Println(errors.Is(err, workers.ErrMethodNotFound))
	// Output:
	// as it is <nil>
	// true
}

func ExampleTasks() {
	t := newExampleT()
	defer t.finish()

	reg := workerstest.New(t)
	if err := reg.Register("greeter", workers.Worker{Default: workers.New[Greeter]()}); err != nil {
		panic(err)
	}
	ctx, tasks := workerstest.Tasks(context.Background())
	answer, _ := workers.Call[string](ctx, reg.Bind(workers.Service{Service: "greeter"}), "Welcome", "Ada")
	fmt.Println(answer)
	fmt.Println(tasks.Wait(ctx)) // the registry stays open
	fmt.Println(<-outbox)
	// Output:
	// queued
	// <nil>
	// welcome mail sent to Ada
}

func ExampleSerialized() {
	t := newExampleT()
	defer t.finish()

	// An error keeps its identity in-process; over remote only when both
	// sides name it (remote.WithErrors), which the serialized mode shows.
	for _, opts := range [][]workers.Option{nil, {workerstest.Serialized()}} {
		reg := workerstest.New(t, opts...)
		if err := reg.Register("greeter", workers.Worker{Default: workers.New[Greeter]()}); err != nil {
			panic(err)
		}
		_, err := reg.Bind(workers.Service{Service: "greeter"}).Call(context.Background(), "Party")
		fmt.Println(errors.Is(err, ErrNoGuests), err != nil)
	}
	// Output:
	// true true
	// false true
}

func ExampleConnect() {
	t := newExampleT()
	defer t.finish()

	server := workerstest.New(t)
	workerstest.Fake(t, server, "names", map[string]any{"Lookup": func(id int) string { return "Linus" }})
	caller := workerstest.New(t)
	workerstest.Connect(t, server, caller) // names is remote in caller, over HTTP/2 in memory
	fmt.Println(workers.Call[string](context.Background(), caller.Bind(workers.Service{Service: "names"}), "Lookup", 1))
	// Output: Linus <nil>
}

func ExampleRun() {
	t := newExampleT() // in a test: the test's *testing.T, and test a func(*testing.T, ...)
	defer t.finish()

	setup := func(t testing.TB, reg *workers.Registry) {
		if err := reg.Register("greeter", workers.Worker{Default: workers.New[Greeter]()}); err != nil {
			t.Fatalf("%v", err)
		}
	}
	// The same test against the worker in-process, serialized as over the
	// wire, and served through package remote (here over an in-memory
	// listener; workerstest.Subprocess serves it from another process,
	// which an Example cannot start).
	workerstest.Run(t, setup, func(t *exampleT, reg *workers.Registry) {
		greeter := reg.Bind(workers.Service{Service: "greeter"})
		answer, err := workers.Call[string](context.Background(), greeter, "Remember", func() string { return "called back" })
		_, party := greeter.Call(context.Background(), "Party")
		fmt.Println(t.Name(), answer, err, errors.Is(party, ErrNoGuests))
	}, workerstest.InProcess, workerstest.SerializedCalls, workerstest.InMemoryRemote)
	// Output:
	// Example/local called back <nil> true
	// Example/serialized called back <nil> false
	// Example/remote called back <nil> false
}

func ExampleWaitAll() {
	t := newExampleT()
	defer t.finish()

	reg := workerstest.New(t)
	if err := reg.Register("greeter", workers.Worker{Default: workers.New[Greeter]()}); err != nil {
		panic(err)
	}
	greeter := reg.Bind(workers.Service{Service: "greeter"})
	for _, name := range []string{"Ada", "Grace"} {
		if _, err := greeter.Call(context.Background(), "Welcome", name); err != nil {
			panic(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(workerstest.WaitAll(ctx, reg)) // every task so far; reg stays open
	fmt.Println(len(outbox))
	<-outbox
	<-outbox
	// Output:
	// <nil>
	// 2
}

// Report reads its LIMIT var and its STORE binding.
type Report struct{ workers.Entrypoint }

func (w *Report) Summary() string {
	store, _ := w.Env.Get("STORE")
	return fmt.Sprintf("limit %s, store %v", w.Env.Var("LIMIT"), store)
}

func ExampleBinding() {
	t := newExampleT()
	defer t.finish()

	reg := workerstest.New(t)
	workerstest.Load(t, reg, "testdata/report/wrangler.toml", workers.Worker{Default: workers.New[Report]()},
		workerstest.Binding("LIMIT", "5"),              // a var, for this test
		workerstest.Binding("STORE", map[string]int{}), // the D1 database, replaced by any Go value
	)
	fmt.Println(workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "report"}), "Summary"))
	// Output: limit 5, store map[] <nil>
}
