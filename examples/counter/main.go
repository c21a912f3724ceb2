// Command counter runs Workers' Durable Object counter in Go: a worker whose
// Fetch routes /increment?name=X to env.COUNTER.getByName(X), one object per
// name, its count in the object's storage; and a chat room that keeps who is
// in the room in memory and the messages in storage.
//
//	go run ./examples/counter
//
// The objects' SQLite files live under examples/counter/.wrangler/state, as
// wrangler dev keeps them, so a second run finds the counts where the first
// left them. -serve serves the worker on localhost for curl instead:
//
//	go run ./examples/counter -serve &
//	curl 'localhost:8787/increment?name=alice'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seed-29c11ff2/workers"
)

// Counter is the Durable Object of Workers' counter example: one per name.
type Counter struct{ workers.DurableObject }

// Increment adds one to the stored count and returns it.
func (c *Counter) Increment(ctx context.Context) (int, error) {
	s := c.State.Storage()
	n, _, err := workers.StorageGet[int](ctx, s, "value")
	if err != nil {
		return 0, err
	}
	n++
	return n, s.Put(ctx, "value", n)
}

// Value returns the stored count.
func (c *Counter) Value(ctx context.Context) (int, error) {
	n, _, err := workers.StorageGet[int](ctx, c.State.Storage(), "value")
	return n, err
}

// Message is one message of a chat room.
type Message struct {
	Seq  int
	From string
	Text string
	At   time.Time
}

// ChatRoom keeps who is in the room in memory (gone when the object is
// evicted, as a WebSocket would be) and the messages in storage.
type ChatRoom struct {
	workers.DurableObject
	members map[string]bool
}

// ErrNotMember is what Post returns for someone not in the room.
var ErrNotMember = errors.New("not in the room")

// Join adds name to the room and returns who is there.
func (r *ChatRoom) Join(name string) []string {
	if r.members == nil {
		r.members = map[string]bool{}
	}
	r.members[name] = true
	return r.Members()
}

// Leave takes name out of the room.
func (r *ChatRoom) Leave(name string) { delete(r.members, name) }

// Members returns who is in the room, sorted.
func (r *ChatRoom) Members() []string {
	out := []string{}
	for m := range r.members {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Post stores a message from a member and returns its number.
func (r *ChatRoom) Post(ctx context.Context, from, text string) (int, error) {
	if !r.members[from] {
		return 0, fmt.Errorf("%s: %w", from, ErrNotMember)
	}
	s := r.State.Storage()
	var seq int
	err := s.Transaction(ctx, func(tx *workers.Storage) error {
		n, _, err := workers.StorageGet[int](ctx, tx, "seq")
		if err != nil {
			return err
		}
		seq = n + 1
		if err := tx.Put(ctx, "seq", seq); err != nil {
			return err
		}
		return tx.Put(ctx, fmt.Sprintf("msg:%010d", seq), Message{Seq: seq, From: from, Text: text, At: time.Now().UTC()})
	})
	return seq, err
}

// History returns the last n messages, oldest first.
func (r *ChatRoom) History(ctx context.Context, n int) ([]Message, error) {
	es, err := r.State.Storage().List(ctx, workers.ListOptions{Prefix: "msg:", Reverse: true, Limit: n})
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e.Value.(Message)
	}
	return out, nil
}

// Front is the worker's default entrypoint: it routes requests to the
// objects.
type Front struct{ workers.Entrypoint }

// Fetch serves /increment?name=X and /value?name=X.
func (f *Front) Fetch(req *http.Request) (*http.Response, error) {
	name := req.URL.Query().Get("name")
	if name == "" {
		return workers.NewResponse(http.StatusBadRequest, "name= is missing\n"), nil
	}
	counter := f.Env.DurableObject("COUNTER").GetByName(name)
	var n int
	var err error
	switch req.URL.Path {
	case "/increment":
		n, err = workers.Call[int](f.Ctx, counter, "Increment")
	case "/value":
		n, err = workers.Call[int](f.Ctx, counter, "Value")
	default:
		return workers.NewResponse(http.StatusNotFound, "try /increment?name=alice\n"), nil
	}
	if err != nil {
		return nil, err
	}
	return workers.NewResponse(http.StatusOK, strconv.Itoa(n)+"\n"), nil
}

// code is the worker's Go code; wrangler.toml adds its bindings.
func code() workers.Worker {
	return workers.Worker{
		Default: workers.New[Front](),
		DurableObjects: map[string]workers.Constructor{
			"Counter":  workers.New[Counter](),
			"ChatRoom": workers.New[ChatRoom](),
		},
	}
}

func main() {
	dirFlag := flag.String("dir", "", "the example's directory, holding wrangler.toml (default: found from the working directory)")
	serve := flag.String("serve", "", "serve the worker on this address (e.g. 127.0.0.1:8787) until interrupted, instead of telling the story")
	flag.Parse()
	dir, err := findDir(*dirFlag)
	if err != nil {
		log.Fatal(err)
	}
	if *serve != "" {
		if err := serveHTTP(dir, *serve); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := story(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

// setup registers the worker with its wrangler.toml.
func setup(dir string, opts ...workers.Option) (*workers.Registry, error) {
	cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.toml"))
	if err != nil {
		return nil, err
	}
	reg := workers.NewRegistry(opts...)
	if err := reg.RegisterConfig(cfg, code()); err != nil {
		_ = reg.Close(context.Background())
		return nil, err
	}
	if err := reg.Validate(); err != nil {
		_ = reg.Close(context.Background())
		return nil, err
	}
	return reg, nil
}

// story tells what the objects do, to out.
func story(out io.Writer, dir string, opts ...workers.Option) (err error) {
	reg, err := setup(dir, opts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, reg.Close(context.Background())) }()
	ctx := context.Background()
	client := &http.Client{Transport: reg.Bind(workers.Service{Service: "counter"})}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://counter" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}

	fmt.Fprintln(out, "== The counter: one Durable Object per name, its count in its own storage")
	for _, name := range []string{"alice", "alice", "bob", "alice"} {
		n, err := get("/increment?name=" + name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "GET /increment?name=%s -> %s\n", name, n)
	}
	ns := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "counter", ClassName: "Counter"})
	id := ns.IDFromName("alice")
	fmt.Fprintf(out, "alice's object: IDFromName(\"alice\") = %s\n  stored in .wrangler/state/do/counter-Counter/%[1]s.sqlite\n", id)
	fmt.Fprintln(out, "(run again: the counts go on from here)")

	fmt.Fprintln(out, "\n== The chat room: members in memory, messages in storage")
	rooms := reg.BindDurableObject(workers.DurableObjectBinding{ScriptName: "counter", ClassName: "ChatRoom"})
	lobby := rooms.GetByName("lobby")
	defer lobby.Close()
	for _, who := range []string{"ada", "grace"} {
		members, err := workers.Call[[]string](ctx, lobby, "Join", who)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s joins: in the room %v\n", who, members)
	}
	for _, m := range [][2]string{{"ada", "hello"}, {"grace", "hi ada"}} {
		seq, err := workers.Call[int](ctx, lobby, "Post", m[0], m[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s posts %q: message #%d\n", m[0], m[1], seq)
	}
	_, err = lobby.Call(ctx, "Post", "mallory", "spam")
	fmt.Fprintf(out, "mallory posts without joining: %v (errors.Is ErrNotMember: %v)\n", err, errors.Is(err, ErrNotMember))
	history, err := workers.Call[[]Message](ctx, lobby, "History", 3)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "the last messages (kept across runs):")
	for _, m := range history {
		fmt.Fprintf(out, "  #%d %s: %s\n", m.Seq, m.From, m.Text)
	}
	return nil
}

// serveHTTP serves the worker on addr until interrupted.
func serveHTTP(dir, addr string) error {
	reg, err := setup(dir)
	if err != nil {
		return err
	}
	defer reg.Close(context.Background())
	srv := &http.Server{Addr: addr, Handler: reg.Handler("counter")}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	log.Printf("serving http://%s/increment?name=alice", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// findDir finds the example's directory: dir, or from the working
// directory (the repository root or the example itself), or this file's.
func findDir(dir string) (string, error) {
	isExample := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "wrangler.toml"))
		return err == nil && filepath.Base(d) == "counter"
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "wrangler.toml")); err != nil {
			return "", fmt.Errorf("-dir %s: no wrangler.toml there", dir)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for _, d := range []string{wd, filepath.Join(wd, "examples", "counter")} {
			if isExample(d) {
				return d, nil
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && isExample(filepath.Dir(file)) {
		return filepath.Dir(file), nil
	}
	return "", errors.New("cannot find the example's directory: run from the repository root or pass -dir examples/counter")
}
