// Package dbservice is the db-service worker of the stores example, the Go
// form of Cloudflare's public-admin-api-interfaces demo: the only code that
// touches the D1 database. Two named entrypoints are its two faces:
//
//	export class PublicStore extends WorkerEntrypoint { countAllTasks() upsertUser(name) getStoreForUserByUsername(name) }
//	export class AdminStore extends WorkerEntrypoint { healthcheck() countAllUsers() ... deleteAllUsers() ... }
//	export class AuthedStore extends RpcTarget { getTasks() createTask(title) completeTask(id) uncompleteTask(id) }
//
// PublicStore.GetStoreForUserByUsername returns an *AuthedStore: an
// RpcTarget bound to one user. The caller receives it as a *workers.Stub;
// the database and the user's ID stay here, so only db-service's code ever
// runs a query, and a caller can reach no other user's tasks.
package dbservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
)

//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen

// ErrUserNotFound is returned for a username that has no user.
var ErrUserNotFound = errors.New("user not found")

// Task is one of a user's tasks.
type Task struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Completed bool   `json:"completed"`
}

// AuthedStore is a user's view of the store. Its fields are private: they
// never leave db-service.
type AuthedStore struct {
	workers.RpcTarget
	userID int64
	db     *d1.Database
}

// GetTasks lists the user's tasks, oldest first.
func (s *AuthedStore) GetTasks(ctx context.Context) ([]Task, error) {
	rows, err := d1.AllAs[struct {
		ID        int64  `json:"id"`
		Title     string `json:"title"`
		Completed int64  `json:"completed"`
	}](ctx, s.db.Prepare("SELECT id, title, completed FROM tasks WHERE user_id = ? ORDER BY created_at ASC, id ASC;").Bind(s.userID))
	if err != nil {
		return nil, err
	}
	tasks := make([]Task, len(rows))
	for i, r := range rows {
		tasks[i] = Task{ID: r.ID, Title: r.Title, Completed: r.Completed == 1}
	}
	return tasks, nil
}

// CreateTask adds a task for the user.
func (s *AuthedStore) CreateTask(ctx context.Context, title string) error {
	_, err := s.db.Prepare("INSERT INTO tasks (title, user_id) VALUES (?, ?);").Bind(title, s.userID).Run(ctx)
	return err
}

// CompleteTask marks one of the user's tasks done.
func (s *AuthedStore) CompleteTask(ctx context.Context, id int64) error {
	return s.setCompleted(ctx, id, 1)
}

// UncompleteTask marks one of the user's tasks not done.
func (s *AuthedStore) UncompleteTask(ctx context.Context, id int64) error {
	return s.setCompleted(ctx, id, 0)
}

func (s *AuthedStore) setCompleted(ctx context.Context, id int64, done int) error {
	// The demo checks only the task's ID; here the user's ID too, so that a
	// stub bound to one user cannot touch another's tasks.
	_, err := s.db.Prepare("UPDATE tasks SET completed = ? WHERE id = ? AND user_id = ?;").Bind(done, id, s.userID).Run(ctx)
	return err
}

// PublicStore is what the public site may do.
type PublicStore struct{ workers.Entrypoint }

func (w *PublicStore) db() *d1.Database {
	db, _ := workers.Get[*d1.Database](w.Env, "D1")
	return db
}

// CountAllTasks counts every user's tasks.
func (w *PublicStore) CountAllTasks(ctx context.Context) (int64, error) {
	return countOf(ctx, w.db(), "SELECT COUNT(0) AS count FROM tasks;")
}

// UpsertUser creates the user if there is none of that name.
func (w *PublicStore) UpsertUser(ctx context.Context, username string) error {
	_, err := w.db().Prepare("INSERT OR IGNORE INTO users (username) VALUES (?);").Bind(username).Run(ctx)
	return err
}

// GetStoreForUserByUsername returns the store of one user: the caller
// gets a stub, never the database.
func (w *PublicStore) GetStoreForUserByUsername(ctx context.Context, username string) (*AuthedStore, error) {
	id, err := w.db().Prepare("SELECT id FROM users WHERE username = ?;").Bind(username).FirstValue(ctx, "id")
	if err != nil {
		return nil, err
	}
	uid, ok := id.(int64)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUserNotFound, username)
	}
	return &AuthedStore{userID: uid, db: w.db()}, nil
}

// AdminStore is what the admin site may do.
type AdminStore struct{ workers.Entrypoint }

func (w *AdminStore) db() *d1.Database {
	db, _ := workers.Get[*d1.Database](w.Env, "D1")
	return db
}

// Healthcheck reports whether the database answers.
func (w *AdminStore) Healthcheck(ctx context.Context) bool {
	v, err := w.db().Prepare("SELECT 1 AS alive;").FirstValue(ctx, "alive")
	return err == nil && v == int64(1)
}

// CountAllUsers counts the users.
func (w *AdminStore) CountAllUsers(ctx context.Context) (int64, error) {
	return countOf(ctx, w.db(), "SELECT COUNT(0) AS count FROM users;")
}

// CountAllTasks counts the tasks.
func (w *AdminStore) CountAllTasks(ctx context.Context) (int64, error) {
	return countOf(ctx, w.db(), "SELECT COUNT(0) AS count FROM tasks;")
}

// CountAllCompletedTasks counts the tasks marked done.
func (w *AdminStore) CountAllCompletedTasks(ctx context.Context) (int64, error) {
	return countOf(ctx, w.db(), "SELECT COUNT(0) AS count FROM tasks WHERE completed = 1;")
}

// DeleteAllUsers deletes every user, and so every task.
func (w *AdminStore) DeleteAllUsers(ctx context.Context) error {
	_, err := w.db().Exec(ctx, "DELETE FROM tasks; DELETE FROM users;")
	return err
}

// DeleteAllTasks deletes every task.
func (w *AdminStore) DeleteAllTasks(ctx context.Context) error {
	_, err := w.db().Exec(ctx, "DELETE FROM tasks;")
	return err
}

// DeleteAllCompletedTasks deletes the tasks marked done.
func (w *AdminStore) DeleteAllCompletedTasks(ctx context.Context) error {
	_, err := w.db().Exec(ctx, "DELETE FROM tasks WHERE completed = 1;")
	return err
}

// Health is db-service's default entrypoint: its Fetch answers OK when
// env.STORE.Healthcheck() does.
type Health struct{ workers.Entrypoint }

// Fetch reports the database's health.
func (w *Health) Fetch(r *http.Request) (*http.Response, error) {
	ok, err := workers.Call[bool](r.Context(), w.Env.Service("STORE"), "Healthcheck")
	if err != nil || !ok {
		return workers.NewResponse(http.StatusInternalServerError, "NOT OK"), nil
	}
	return workers.NewResponse(http.StatusOK, "OK"), nil
}

func countOf(ctx context.Context, db *d1.Database, query string) (int64, error) {
	v, err := db.Prepare(query).FirstValue(ctx, "count")
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("count: got %T", v)
	}
	return n, nil
}

// Worker is db-service's code, for Registry.RegisterConfig with its
// wrangler.toml.
func Worker() workers.Worker {
	return workers.Worker{
		Default: workers.New[Health](),
		Entrypoints: map[string]workers.Constructor{
			"PublicStore": workers.New[PublicStore](),
			"AdminStore":  workers.New[AdminStore](),
		},
	}
}
