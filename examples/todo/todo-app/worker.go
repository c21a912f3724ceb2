// Package todoapp is the todo-app worker of the todo example: users and
// their tasks in the D1 database DB, served through two named entrypoints,
// as in Cloudflare's named-entrypoints example:
//
//	export class AdminEntrypoint extends WorkerEntrypoint { createUser(name) {...} deleteUser(id) {...} }
//	export class UserEntrypoint extends WorkerEntrypoint { getTasks(userId) {...} createTask(userId, title) {...} }
//	export default class extends WorkerEntrypoint { fetch() {...} }
//
// Each entrypoint is a permission boundary: a binding to UserEntrypoint
// cannot call AdminEntrypoint's methods. AdminEntrypoint also checks the
// props of the binding that calls it (Ctx.Props), which only whoever
// deploys the caller can set.
package todoapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
)

//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen

// User is a row of the users table.
type User struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Task is a row of the tasks table.
type Task struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"userId"`
	Title  string `json:"title"`
	Done   bool   `json:"done"`
}

// Props are what a binding to AdminEntrypoint says about its caller, as
// props = { clientId = "...", permissions = ["read", "write"] } in its
// wrangler.toml.
type Props struct {
	ClientID    string   `json:"clientId"`
	Permissions []string `json:"permissions"`
}

// The errors of todo-app, matched with errors.Is: they keep their identity
// across a call. Their messages complete a sentence, as in "user aNewUser
// already exists".
var (
	ErrUserExists   = errors.New("already exists")
	ErrNotFound     = errors.New("not found")
	ErrInvalidInput = errors.New("is invalid")
	ErrForbidden    = errors.New("permission denied")
)

// Worker returns todo-app's code, for Registry.RegisterConfig with its
// wrangler.toml, which adds the D1 database.
func Worker() workers.Worker {
	return workers.Worker{
		Default: workers.New[App](),
		Entrypoints: map[string]workers.Constructor{
			"AdminEntrypoint": workers.New[AdminEntrypoint](),
			"UserEntrypoint":  workers.New[UserEntrypoint](),
		},
	}
}

// App is the default entrypoint. Its Fetch lists every task as JSON.
type App struct{ workers.Entrypoint }

func (w *App) Fetch(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return workers.NewResponse(http.StatusMethodNotAllowed, "todo-app lists tasks: use GET"), nil
	}
	db, err := database(w.Env)
	if err != nil {
		return nil, err
	}
	tasks, err := d1.AllAs[Task](r.Context(), db.Prepare("SELECT id, user_id, title, done FROM tasks ORDER BY id"))
	if err != nil {
		return nil, err
	}
	if tasks == nil {
		tasks = []Task{} // [] rather than null
	}
	return workers.JSONResponse(http.StatusOK, tasks)
}

// AdminEntrypoint manages users. Every method checks the caller's props.
type AdminEntrypoint struct{ workers.Entrypoint }

// CreateUser adds a user. A name that is taken is an error wrapping
// ErrUserExists. It needs the "write" permission.
func (w *AdminEntrypoint) CreateUser(name string) (User, error) {
	db, err := w.allow("CreateUser", "write")
	if err != nil {
		return User{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return User{}, fmt.Errorf("user name %q %w: it is empty", name, ErrInvalidInput)
	}
	// Not ON CONFLICT DO NOTHING: with AUTOINCREMENT it would use up an id.
	u, ok, err := d1.FirstAs[User](w.Ctx, db.Prepare(
		"INSERT INTO users (name) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = ?1) RETURNING id, name").
		Bind(name))
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, fmt.Errorf("user %s %w", name, ErrUserExists)
	}
	return u, nil
}

// DeleteUser removes a user and their tasks. It needs the "write" permission.
func (w *AdminEntrypoint) DeleteUser(id int64) error {
	db, err := w.allow("DeleteUser", "write")
	if err != nil {
		return err
	}
	res, err := db.Prepare("DELETE FROM users WHERE id = ?").Bind(id).Run(w.Ctx)
	if err != nil {
		return err
	}
	if res.Meta.Changes == 0 {
		return fmt.Errorf("user %d %w", id, ErrNotFound)
	}
	return nil
}

// ListUsers returns every user. It needs the "read" permission.
func (w *AdminEntrypoint) ListUsers() ([]User, error) {
	db, err := w.allow("ListUsers", "read")
	if err != nil {
		return nil, err
	}
	return d1.AllAs[User](w.Ctx, db.Prepare("SELECT id, name FROM users ORDER BY id"))
}

// allow checks that the calling binding's props grant perm, and returns the
// database.
func (w *AdminEntrypoint) allow(method, perm string) (*d1.Database, error) {
	p, err := workers.PropsAs[Props](w.Ctx)
	if err != nil {
		return nil, fmt.Errorf("todo-app: AdminEntrypoint.%s: unreadable props: %w", method, ErrForbidden)
	}
	if !slices.Contains(p.Permissions, perm) {
		client := p.ClientID
		if client == "" {
			client = "(unnamed)"
		}
		return nil, fmt.Errorf("todo-app: AdminEntrypoint.%s needs the %q permission, which client %q does not have (it has %q): %w",
			method, perm, client, p.Permissions, ErrForbidden)
	}
	return database(w.Env)
}

// UserEntrypoint reads and writes tasks. It has no user-management methods,
// so a binding to it cannot reach them.
type UserEntrypoint struct{ workers.Entrypoint }

// FindUser returns the user called name, or an error wrapping ErrNotFound.
func (w *UserEntrypoint) FindUser(name string) (User, error) {
	db, err := database(w.Env)
	if err != nil {
		return User{}, err
	}
	u, ok, err := d1.FirstAs[User](w.Ctx, db.Prepare("SELECT id, name FROM users WHERE name = ?").Bind(name))
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, fmt.Errorf("user %s %w", name, ErrNotFound)
	}
	return u, nil
}

// GetTasks returns the tasks of a user, oldest first.
func (w *UserEntrypoint) GetTasks(userID int64) ([]Task, error) {
	db, err := database(w.Env)
	if err != nil {
		return nil, err
	}
	tasks, err := d1.AllAs[Task](w.Ctx, db.Prepare(
		"SELECT id, user_id, title, done FROM tasks WHERE user_id = ? ORDER BY id").Bind(userID))
	if tasks == nil && err == nil {
		tasks = []Task{}
	}
	return tasks, err
}

// CreateTask adds a task for a user, who must exist.
func (w *UserEntrypoint) CreateTask(userID int64, title string) (Task, error) {
	db, err := database(w.Env)
	if err != nil {
		return Task{}, err
	}
	title = strings.TrimSpace(title)
	if title == "" {
		return Task{}, fmt.Errorf("task title %q %w: it is empty", title, ErrInvalidInput)
	}
	t, ok, err := d1.FirstAs[Task](w.Ctx, db.Prepare(
		"INSERT INTO tasks (user_id, title) SELECT id, ?1 FROM users WHERE id = ?2 RETURNING id, user_id, title, done").
		Bind(title, userID))
	if err != nil {
		return Task{}, err
	}
	if !ok {
		return Task{}, fmt.Errorf("user %d %w", userID, ErrNotFound)
	}
	return t, nil
}

// database returns the D1 binding DB that todo-app's wrangler.toml declares.
func database(env *workers.Env) (*d1.Database, error) {
	db, ok := workers.Get[*d1.Database](env, "DB")
	if !ok {
		return nil, errors.New("todo-app: no D1 binding DB: register the worker with its wrangler.toml")
	}
	return db, nil
}

// ErrorResponse turns an error of todo-app into an HTTP response with the
// status that fits it, for the workers that call todo-app from their Fetch.
// Other errors are returned as they are, which the runtime serves as 500.
func ErrorResponse(err error) (*http.Response, error) {
	status := 0
	switch {
	case errors.Is(err, ErrUserExists):
		status = http.StatusConflict
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalidInput):
		status = http.StatusBadRequest
	case errors.Is(err, ErrForbidden), errors.Is(err, workers.ErrMethodNotFound):
		status = http.StatusForbidden
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	default:
		return nil, err
	}
	return workers.NewResponse(status, err.Error()), nil
}
