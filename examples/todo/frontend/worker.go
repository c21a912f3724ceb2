// Package frontend is the frontend worker of the todo example: the app its
// users see. It reaches todo-app through two bindings of its wrangler.toml:
// USER, to UserEntrypoint, for tasks; and ADMIN, to AdminEntrypoint, with
// props that grant only "read".
package frontend

import (
	"io"
	"net/http"
	"strings"

	"github.com/seed-29c11ff2/workers"
	todoapp "github.com/seed-29c11ff2/workers/examples/todo/todo-app"
)

// Worker returns the frontend's code, for Registry.RegisterConfig with its
// wrangler.toml, which adds the USER and ADMIN bindings.
func Worker() workers.Worker {
	return workers.Worker{Default: workers.New[App]()}
}

// App is the frontend's default entrypoint. Its Fetch serves:
//
//	GET    /users              the users, through ADMIN (needs "read")
//	GET    /users/{name}/tasks the user's tasks, through USER
//	POST   /users/{name}/tasks a new task whose title is the body, through USER
//	DELETE /users/{name}       through ADMIN (needs "write", which the
//	                           frontend's props do not grant: always 403)
type App struct{ workers.Entrypoint }

func (w *App) Fetch(r *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "users" && r.Method == http.MethodGet:
		return w.listUsers(r)
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "tasks" && r.Method == http.MethodGet:
		return w.tasks(r, parts[1])
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "tasks" && r.Method == http.MethodPost:
		return w.createTask(r, parts[1])
	case len(parts) == 2 && parts[0] == "users" && r.Method == http.MethodDelete:
		return w.deleteUser(r, parts[1])
	}
	return workers.NewResponse(http.StatusNotFound,
		"frontend: try GET /users, GET or POST /users/{name}/tasks, DELETE /users/{name}"), nil
}

func (w *App) listUsers(r *http.Request) (*http.Response, error) {
	users, err := todoapp.NewAdminEntrypointClient(w.Env.Service("ADMIN")).ListUsers(r.Context())
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	return workers.JSONResponse(http.StatusOK, users)
}

func (w *App) tasks(r *http.Request, name string) (*http.Response, error) {
	user := todoapp.NewUserEntrypointClient(w.Env.Service("USER"))
	u, err := user.FindUser(r.Context(), name)
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	tasks, err := user.GetTasks(r.Context(), u.ID)
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	return workers.JSONResponse(http.StatusOK, tasks)
}

func (w *App) createTask(r *http.Request, name string) (*http.Response, error) {
	title, err := io.ReadAll(io.LimitReader(r.Body, 1<<10))
	if err != nil {
		return nil, err
	}
	user := todoapp.NewUserEntrypointClient(w.Env.Service("USER"))
	u, err := user.FindUser(r.Context(), name)
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	task, err := user.CreateTask(r.Context(), u.ID, string(title))
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	return workers.JSONResponse(http.StatusCreated, task)
}

func (w *App) deleteUser(r *http.Request, name string) (*http.Response, error) {
	u, err := todoapp.NewUserEntrypointClient(w.Env.Service("USER")).FindUser(r.Context(), name)
	if err != nil {
		return todoapp.ErrorResponse(err)
	}
	if err := todoapp.NewAdminEntrypointClient(w.Env.Service("ADMIN")).DeleteUser(r.Context(), u.ID); err != nil {
		return todoapp.ErrorResponse(err)
	}
	return workers.NewResponse(http.StatusOK, "deleted user "+name), nil
}
