// Package adminservice is the admin-service worker of the stores example
// (named private-service in its wrangler.toml, as in the demo): counts and
// clean-ups through env.STORE, db-service's AdminStore.
//
//	GET  /                                             the counts
//	POST / (action=delete-users|delete-tasks|delete-completed-tasks)
package adminservice

import (
	"fmt"
	"net/http"

	"github.com/seed-29c11ff2/workers"
)

// Admin is admin-service's default entrypoint.
type Admin struct{ workers.Entrypoint }

// Fetch serves the admin page.
func (w *Admin) Fetch(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/" {
		return workers.NewResponse(http.StatusNotFound, "not found\n"), nil
	}
	ctx, store := r.Context(), w.Env.Service("STORE")
	if r.Method == http.MethodPost {
		method, ok := map[string]string{
			"delete-users":           "DeleteAllUsers",
			"delete-tasks":           "DeleteAllTasks",
			"delete-completed-tasks": "DeleteAllCompletedTasks",
		}[r.FormValue("action")]
		if !ok {
			return workers.NewResponse(http.StatusBadRequest, "Invalid action.\n"), nil
		}
		if _, err := store.Call(ctx, method); err != nil {
			return nil, err
		}
	}
	var counts [3]int64
	for i, m := range []string{"CountAllUsers", "CountAllTasks", "CountAllCompletedTasks"} {
		n, err := workers.Call[int64](ctx, store, m)
		if err != nil {
			return nil, err
		}
		counts[i] = n
	}
	return workers.NewResponse(http.StatusOK, fmt.Sprintf("users %d, tasks %d, completed %d\n", counts[0], counts[1], counts[2])), nil
}

// Worker is admin-service's code.
func Worker() workers.Worker { return workers.Worker{Default: workers.New[Admin]()} }
