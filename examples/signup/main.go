// Command signup shows Ctx.WaitUntil: Signup answers "Success" at once and
// sends the welcome email in the background; Registry.Close waits for it.
//
//	go run ./examples/signup
package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/seed-29c11ff2/workers"
)

// Mailer is a binding the worker sends email through. It keeps a journal so
// the program can show the order in which things happened.
type Mailer struct {
	mu      sync.Mutex
	journal []string
}

func (m *Mailer) Send(ctx context.Context, to, text string) error {
	select {
	case <-time.After(100 * time.Millisecond): // a slow mail server
	case <-ctx.Done():
		return ctx.Err()
	}
	m.Log(fmt.Sprintf("email to %s: %q", to, text))
	return nil
}

func (m *Mailer) Log(event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.journal = append(m.journal, event)
}

func (m *Mailer) Journal() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.journal...)
}

// Signup answers at once and keeps working after it has answered.
type Signup struct{ workers.Entrypoint }

func (w *Signup) Signup(email, name string) string {
	mailer, _ := workers.Get[*Mailer](w.Env, "MAILER")
	w.Ctx.WaitUntil(func(ctx context.Context) error {
		return mailer.Send(ctx, email, "Welcome, "+name+"!")
	})
	return "Success"
}

func main() {
	mailer := &Mailer{}
	reg := workers.NewRegistry()
	err := reg.Register("signup", workers.Worker{
		Default:  workers.New[Signup](),
		Bindings: map[string]any{"MAILER": mailer},
	})
	if err != nil {
		log.Fatal(err)
	}

	res, err := workers.Call[string](context.Background(), reg.Bind(workers.Service{Service: "signup"}), "Signup", "ada@example.com", "Ada")
	if err != nil {
		log.Fatal(err)
	}
	mailer.Log("Signup returned " + res)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := reg.Close(ctx); err != nil {
		log.Fatal(err)
	}
	mailer.Log("Close returned")

	for i, event := range mailer.Journal() {
		fmt.Printf("%d. %s\n", i+1, event)
	}
}
