package workers_test

import (
	"context"
	"fmt"
	"os"

	"github.com/seed-29c11ff2/workers"
)

// Visits is a Durable Object: one instance per name, its calls one at a
// time, its count in its own storage.
type Visits struct {
	workers.DurableObject
	calls int // in memory, until the object is evicted
}

func (v *Visits) Visit(ctx context.Context) (string, error) {
	s := v.State.Storage()
	n, _, err := workers.StorageGet[int](ctx, s, "visits")
	if err != nil {
		return "", err
	}
	if err := s.Put(ctx, "visits", n+1); err != nil {
		return "", err
	}
	v.calls++
	return fmt.Sprintf("%s: visit %d (call %d of this instance)", v.State.ID().Name(), n+1, v.calls), nil
}

// Site routes each page to the object of its name.
type Site struct{ workers.Entrypoint }

func (s *Site) View(page string) (string, error) {
	return workers.Call[string](s.Ctx, s.Env.DurableObject("VISITS").GetByName(page), "Visit")
}

func Example_durableObject() {
	state, _ := os.MkdirTemp("", "durable-example")
	defer os.RemoveAll(state)
	reg := workers.NewRegistry(workers.WithStateDir(state))
	defer reg.Close(context.Background())
	_ = reg.Register("site", workers.Worker{
		Default:               workers.New[Site](),
		DurableObjects:        map[string]workers.Constructor{"Visits": workers.New[Visits]()},
		DurableObjectBindings: []workers.DurableObjectBinding{{Name: "VISITS", ClassName: "Visits"}},
	})
	site := reg.Bind(workers.Service{Service: "site"})
	for _, page := range []string{"home", "home", "about", "home"} {
		out, err := workers.Call[string](context.Background(), site, "View", page)
		fmt.Println(out, err)
	}
	// Output:
	// home: visit 1 (call 1 of this instance) <nil>
	// home: visit 2 (call 2 of this instance) <nil>
	// about: visit 1 (call 1 of this instance) <nil>
	// home: visit 3 (call 3 of this instance) <nil>
}
