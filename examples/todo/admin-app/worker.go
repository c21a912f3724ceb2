// Package adminapp is the admin-app worker of the todo example. Its Fetch
// creates a user through its ADMIN binding to todo-app's AdminEntrypoint, as
// in Cloudflare's named-entrypoints example:
//
//	export default {
//	  async fetch(request, env) {
//	    await env.ADMIN.createUser("aNewUser")
//	    ...
//	  }
//	}
package adminapp

import (
	"fmt"
	"net/http"

	"github.com/seed-29c11ff2/workers"
	todoapp "github.com/seed-29c11ff2/workers/examples/todo/todo-app"
)

// DefaultUser is the user a request without ?name= creates.
const DefaultUser = "aNewUser"

// Worker returns admin-app's code, for Registry.RegisterConfig with its
// wrangler.toml, which adds the ADMIN binding.
func Worker() workers.Worker {
	return workers.Worker{Default: workers.New[App]()}
}

// App is admin-app's default entrypoint.
type App struct{ workers.Entrypoint }

// Fetch calls env.ADMIN.CreateUser with ?name= (DefaultUser if absent) and
// answers 201 with the new user, or 409 when the name is taken.
func (w *App) Fetch(r *http.Request) (*http.Response, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = DefaultUser
	}
	admin := todoapp.NewAdminEntrypointClient(w.Env.Service("ADMIN"))
	u, err := admin.CreateUser(r.Context(), name)
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	return workers.NewResponse(http.StatusCreated, fmt.Sprintf("created user %s (id %d)", u.Name, u.ID)), nil
}
