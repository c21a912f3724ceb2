// Command greeting shows [vars]: a worker reads GREETING from its Env.
//
//	go run ./examples/greeting
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/seed-29c11ff2/workers"
)

// Greeter is a worker whose Greet reads a var, as this.env.GREETING does.
type Greeter struct{ workers.Entrypoint }

func (w *Greeter) Greet(name string) string {
	return w.Env.Var("GREETING") + name
}

func main() {
	reg := workers.NewRegistry()
	err := reg.Register("greeter", workers.Worker{
		Default: workers.New[Greeter](),
		Vars:    map[string]any{"GREETING": "Hello"}, // [vars] GREETING = "Hello"
	})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close(context.Background())

	greeter := reg.Bind(workers.Service{Service: "greeter"})
	for _, name := range []string{", World", " from Go"} {
		s, err := workers.Call[string](context.Background(), greeter, "Greet", name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(s)
	}
}
