package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seed-29c11ff2/workers"
	todoapp "github.com/seed-29c11ff2/workers/examples/todo/todo-app"
)

// The servers of -serve and the databases' pools start goroutines: none may
// outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// copyExample copies the example's configuration tree (wrangler.toml files
// and migrations, not the state of earlier runs) into a temporary directory
// and returns it.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".wrangler" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, path), 0o755)
		}
		if ext := filepath.Ext(path); ext != ".toml" && ext != ".sql" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, path), data, 0o644)
	})
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dst, "todo-app", "migrations", "0001_create_tables.sql"))
	return dst
}

// The ErrMethodNotFound message is the library's; the story only promises
// that it is printed.
var methodNotFound = regexp.MustCompile(`(refused: )workers: .*The RPC receiver does not implement the method "CreateUser"\.`)

const firstRun = `1. admin-app's fetch calls env.ADMIN.CreateUser("aNewUser") (AdminEntrypoint, props clientId "frontend-worker", permissions read+write)
   GET http://admin-app/ -> 201 Created: created user aNewUser (id 1)

2. frontend creates and lists tasks through env.USER (UserEntrypoint)
   POST http://frontend/users/aNewUser/tasks "Buy milk" -> 201 Created: {"id":1,"userId":1,"title":"Buy milk","done":false}
   POST http://frontend/users/aNewUser/tasks "Write the report" -> 201 Created: {"id":2,"userId":1,"title":"Write the report","done":false}
   GET http://frontend/users/aNewUser/tasks -> 200 OK: [{"id":1,"userId":1,"title":"Buy milk","done":false},{"id":2,"userId":1,"title":"Write the report","done":false}]
   GET http://frontend/users -> 200 OK: [{"id":1,"name":"aNewUser"}]

3. todo-app's default entrypoint lists every task as JSON
   GET http://todo-app/ -> 200 OK: [{"id":1,"userId":1,"title":"Buy milk","done":false},{"id":2,"userId":1,"title":"Write the report","done":false}]

4. the USER binding cannot reach AdminEntrypoint's methods
   env.USER.CreateUser("mallory") refused: ErrMethodNotFound

5. frontend's DELETE /users/aNewUser goes through env.ADMIN, whose props grant only "read"
   DELETE http://frontend/users/aNewUser -> 403 Forbidden: todo-app: AdminEntrypoint.DeleteUser needs the "write" permission, which client "frontend" does not have (it has ["read"]): permission denied
`

// runStory runs the story in dir and returns its output, with the
// ErrMethodNotFound message checked and replaced by its name.
func runStory(t *testing.T, dir string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, story(t.Context(), &out, dir), "output so far:\n%s", out.String())
	got := out.String()
	require.Regexp(t, methodNotFound, got)
	return methodNotFound.ReplaceAllString(got, "${1}ErrMethodNotFound")
}

// The story runs against the database on disk, and runs again on the same
// state: the migrations are not applied twice and the duplicate user is a
// message, not a failure.
func TestStory(t *testing.T) {
	dir := copyExample(t)

	assert.Equal(t, firstRun, runStory(t, dir))
	assert.FileExists(t, filepath.Join(dir, "todo-app", ".wrangler", "state", "d1", "todo-app-db.sqlite"))
	for _, app := range []string{"admin-app", "frontend"} {
		assert.NoDirExists(t, filepath.Join(dir, app, ".wrangler"), "%s has no database", app)
	}

	second := runStory(t, dir)
	for _, want := range []string{
		"GET http://admin-app/ -> 409 Conflict: user aNewUser already exists\n",
		`"Buy milk" -> 201 Created: {"id":3,"userId":1,"title":"Buy milk","done":false}`,
		`"Write the report" -> 201 Created: {"id":4,"userId":1,"title":"Write the report","done":false}`,
		`GET http://frontend/users -> 200 OK: [{"id":1,"name":"aNewUser"}]`,
		"refused: ErrMethodNotFound",
		"-> 403 Forbidden:",
	} {
		assert.Contains(t, second, want)
	}
	list := `[{"id":1,"userId":1,"title":"Buy milk","done":false},{"id":2,"userId":1,"title":"Write the report","done":false},` +
		`{"id":3,"userId":1,"title":"Buy milk","done":false},{"id":4,"userId":1,"title":"Write the report","done":false}]`
	assert.Equal(t, 2, strings.Count(second, " -> 200 OK: "+list+"\n"), "the frontend's and todo-app's lists both hold the 4 tasks of two runs")
}

func TestStoryFails(t *testing.T) {
	t.Run("no configs", func(t *testing.T) {
		err := story(t.Context(), io.Discard, t.TempDir())
		assert.ErrorContains(t, err, "wrangler.toml")
	})
	t.Run("a binding to a missing entrypoint", func(t *testing.T) {
		dir := copyExample(t)
		path := filepath.Join(dir, "frontend", "wrangler.toml")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		data = bytes.Replace(data, []byte(`entrypoint = "UserEntrypoint"`), []byte(`entrypoint = "UsersEntrypoint"`), 1)
		require.NoError(t, os.WriteFile(path, data, 0o644))
		err = story(t.Context(), io.Discard, dir)
		assert.ErrorContains(t, err, `"UsersEntrypoint"`)
	})
}

func TestFindDir(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)

	t.Run("-dir", func(t *testing.T) {
		dir := copyExample(t)
		got, err := findDir(dir)
		require.NoError(t, err)
		assert.Equal(t, dir, got)
		_, err = findDir(t.TempDir())
		assert.ErrorContains(t, err, "todo-app/wrangler.toml")
	})
	t.Run("from the repository root", func(t *testing.T) {
		t.Chdir(filepath.Join(wd, "..", ".."))
		got, err := findDir("")
		require.NoError(t, err)
		assert.Equal(t, wd, got)
	})
	t.Run("from a subdirectory of the repository", func(t *testing.T) {
		t.Chdir(filepath.Join(wd, "..", "..", "d1"))
		got, err := findDir("")
		require.NoError(t, err)
		assert.Equal(t, wd, got)
	})
	t.Run("from the example's directory", func(t *testing.T) {
		got, err := findDir("")
		require.NoError(t, err)
		assert.Equal(t, wd, got)
	})
	t.Run("from elsewhere: the source's directory", func(t *testing.T) {
		t.Chdir(t.TempDir())
		got, err := findDir("")
		require.NoError(t, err)
		assert.Equal(t, wd, got)
	})
}

// The workers' own rules, through the bindings their files declare.
func TestTodoApp(t *testing.T) {
	reg, cfgs, err := setup(copyExample(t))
	require.NoError(t, err)
	defer reg.Close(context.Background())
	ctx := t.Context()
	adminBinding, err := bindingOf(reg, cfgs["admin-app"], "ADMIN")
	require.NoError(t, err)
	admin := todoapp.NewAdminEntrypointClient(adminBinding)
	readOnlyBinding, err := bindingOf(reg, cfgs["frontend"], "ADMIN")
	require.NoError(t, err)
	readOnly := todoapp.NewAdminEntrypointClient(readOnlyBinding)
	userBinding, err := bindingOf(reg, cfgs["frontend"], "USER")
	require.NoError(t, err)
	user := todoapp.NewUserEntrypointClient(userBinding)

	ann, err := admin.CreateUser(ctx, " ann ")
	require.NoError(t, err)
	assert.Equal(t, todoapp.User{ID: 1, Name: "ann"}, ann)
	_, err = admin.CreateUser(ctx, "ann")
	assert.ErrorIs(t, err, todoapp.ErrUserExists)
	assert.EqualError(t, err, "user ann already exists")
	_, err = admin.CreateUser(ctx, "  ")
	assert.ErrorIs(t, err, todoapp.ErrInvalidInput)

	_, err = readOnly.CreateUser(ctx, "bob")
	assert.ErrorIs(t, err, todoapp.ErrForbidden)
	assert.ErrorContains(t, err, `client "frontend"`)
	users, err := readOnly.ListUsers(ctx)
	require.NoError(t, err, "read is granted")
	assert.Equal(t, []todoapp.User{ann}, users)

	// No props at all: no permission.
	anonymous := todoapp.NewAdminEntrypointClient(reg.Bind(workers.Service{Service: "todo-app", Entrypoint: "AdminEntrypoint"}))
	_, err = anonymous.ListUsers(ctx)
	assert.ErrorIs(t, err, todoapp.ErrForbidden)

	task, err := user.CreateTask(ctx, ann.ID, "Water the plants")
	require.NoError(t, err)
	assert.Equal(t, todoapp.Task{ID: 1, UserID: ann.ID, Title: "Water the plants"}, task)
	_, err = user.CreateTask(ctx, 99, "Nobody's task")
	assert.ErrorIs(t, err, todoapp.ErrNotFound)
	_, err = user.CreateTask(ctx, ann.ID, "")
	assert.ErrorIs(t, err, todoapp.ErrInvalidInput)
	tasks, err := user.GetTasks(ctx, ann.ID)
	require.NoError(t, err)
	assert.Equal(t, []todoapp.Task{task}, tasks)
	_, err = user.FindUser(ctx, "nobody")
	assert.ErrorIs(t, err, todoapp.ErrNotFound)

	// Deleting a user deletes their tasks (the foreign key cascades).
	require.NoError(t, admin.DeleteUser(ctx, ann.ID))
	tasks, err = user.GetTasks(ctx, ann.ID)
	require.NoError(t, err)
	assert.Empty(t, tasks)
	assert.ErrorIs(t, admin.DeleteUser(ctx, ann.ID), todoapp.ErrNotFound)
}

// -serve: each worker on its own listener, served until the context ends,
// then the registry is closed.
func TestServe(t *testing.T) {
	reg, _, err := setup(copyExample(t))
	require.NoError(t, err)
	listeners := map[string]net.Listener{}
	for _, name := range []string{"todo-app", "admin-app", "frontend"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[name] = l
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &out, reg, listeners) }()

	client := &http.Client{Transport: &http.Transport{}}
	do := func(service, method, path, body string) (int, string) {
		t.Helper()
		url := "http://" + listeners[service].Addr().String() + path
		req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(data)
	}
	tests := []struct {
		service, method, path, body string
		status                      int
		want                        string
	}{
		{"admin-app", http.MethodGet, "/?name=bob", "", http.StatusCreated, "created user bob (id 1)"},
		{"admin-app", http.MethodPost, "/?name=bob", "", http.StatusConflict, "user bob already exists"},
		{"admin-app", http.MethodGet, "/", "", http.StatusCreated, "created user aNewUser (id 2)"},
		{"frontend", http.MethodPost, "/users/bob/tasks", "Ship it", http.StatusCreated, `{"id":1,"userId":1,"title":"Ship it","done":false}`},
		{"frontend", http.MethodGet, "/users/bob/tasks", "", http.StatusOK, `[{"id":1,"userId":1,"title":"Ship it","done":false}]`},
		{"frontend", http.MethodGet, "/users/carol/tasks", "", http.StatusNotFound, "user carol not found"},
		{"frontend", http.MethodGet, "/users", "", http.StatusOK, `[{"id":1,"name":"bob"},{"id":2,"name":"aNewUser"}]`},
		{"frontend", http.MethodDelete, "/users/bob", "", http.StatusForbidden, "permission denied"},
		{"frontend", http.MethodGet, "/nowhere", "", http.StatusNotFound, "try GET /users"},
		{"todo-app", http.MethodGet, "/", "", http.StatusOK, `[{"id":1,"userId":1,"title":"Ship it","done":false}]`},
		{"todo-app", http.MethodPost, "/", "", http.StatusMethodNotAllowed, "use GET"},
	}
	for _, tc := range tests {
		status, body := do(tc.service, tc.method, tc.path, tc.body)
		assert.Equal(t, tc.status, status, "%s %s%s: %s", tc.method, tc.service, tc.path, body)
		assert.Contains(t, body, tc.want, "%s %s%s", tc.method, tc.service, tc.path)
	}
	client.CloseIdleConnections()

	cancel()
	require.NoError(t, <-done)
	_, err = reg.Bind(workers.Service{Service: "todo-app", Entrypoint: "UserEntrypoint"}).Call(t.Context(), "GetTasks", 1)
	assert.ErrorIs(t, err, workers.ErrClosed, "serve closes the registry")
	for name, l := range listeners {
		assert.Contains(t, out.String(), name)
		assert.Contains(t, out.String(), "http://"+l.Addr().String()+"/")
		_, err := net.Dial("tcp", l.Addr().String())
		assert.Error(t, err, "%s still listens", name)
	}
	assert.True(t, strings.HasSuffix(out.String(), "stopped\n"))
}

// serveAll reports an address it cannot listen on, naming the worker, and
// leaves nothing open.
func TestServeAllListenError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	err = serveAll(t.Context(), io.Discard, copyExample(t), []service{
		{"admin-app", "127.0.0.1:0"},
		{"todo-app", taken.Addr().String()},
	})
	assert.ErrorContains(t, err, "todo-app")
	assert.ErrorContains(t, err, taken.Addr().String())
}
