package workers_test

import (
	"context"
	"fmt"

	"github.com/seed-29c11ff2/workers"
)

// Nightly is a worker with a cron handler, Workers' scheduled().
type Nightly struct{ workers.Entrypoint }

func (w *Nightly) Scheduled(ctx context.Context, ev workers.ScheduledEvent) error {
	fmt.Printf("%s: pruning sessions older than %s days (depth %d)\n", ev.Cron, w.Env.Var("MAX_AGE_DAYS"), w.Ctx.Depth())
	return nil
}

// A worker's Scheduled handler runs on each of its cron triggers; a test
// or a tool fires it by hand with Registry.Scheduled, as wrangler's
// /__scheduled?cron=... route does.
func ExampleRegistry_Scheduled() {
	reg := workers.NewRegistry()
	defer reg.Close(context.Background()) // stops the triggers

	err := reg.Register("nightly", workers.Worker{
		Default: workers.New[Nightly](),
		Vars:    map[string]any{"MAX_AGE_DAYS": "30"},
		Crons:   []string{"0 3 * * *"}, // as [triggers] crons = ["0 3 * * *"]
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Scheduled(context.Background(), "nightly", "0 3 * * *"); err != nil {
		fmt.Println(err)
	}
	// Output: 0 3 * * *: pruning sessions older than 30 days (depth 1)
}
