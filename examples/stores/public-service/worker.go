// Package publicservice is the public-service worker of the stores example:
// a site where users keep their tasks. It reaches the data only through
// env.STORE (db-service's PublicStore) and the AuthedStore stubs that it
// hands out; it never sees the database.
//
//	GET  /                        how many tasks there are
//	POST / (username=...)         sign in (creates the user)
//	GET  /user/NAME/              the user's tasks
//	POST /user/NAME/new (title=)  add a task
//	POST /user/NAME/complete (id=), /user/NAME/uncomplete (id=)
package publicservice

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/seed-29c11ff2/workers"
	dbservice "github.com/seed-29c11ff2/workers/examples/stores/db-service"
)

var (
	username = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,50}$`)
	userPath = regexp.MustCompile(`^/user/([a-zA-Z0-9_-]{1,50})(/(?:new|complete|uncomplete)?)$`)
)

// Site is public-service's default entrypoint.
type Site struct{ workers.Entrypoint }

// Fetch serves the site.
func (w *Site) Fetch(r *http.Request) (*http.Response, error) {
	ctx, store := r.Context(), w.Env.Service("STORE")
	if r.URL.Path == "/" {
		switch r.Method {
		case http.MethodGet:
			n, err := workers.Call[int64](ctx, store, "CountAllTasks")
			if err != nil {
				return nil, err
			}
			return workers.NewResponse(http.StatusOK, fmt.Sprintf("%d tasks\n", n)), nil
		case http.MethodPost:
			name := r.FormValue("username")
			if !username.MatchString(name) {
				return workers.NewResponse(http.StatusBadRequest, "Invalid username.\n"), nil
			}
			if _, err := store.Call(ctx, "UpsertUser", name); err != nil {
				return nil, err
			}
			resp := workers.NewResponse(http.StatusFound, "")
			resp.Header.Set("Location", "/user/"+name+"/")
			return resp, nil
		}
	}
	m := userPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return workers.NewResponse(http.StatusNotFound, "not found\n"), nil
	}
	// The user's store: a stub to an AuthedStore in db-service, released
	// when this request's invocation ends.
	tasks, err := workers.Call[*workers.Stub](w.Ctx, store, "GetStoreForUserByUsername", m[1])
	if err != nil {
		return workers.NewResponse(http.StatusNotFound, err.Error()+"\n"), nil
	}
	user := dbservice.NewAuthedStoreClient(tasks)
	switch action := m[2]; {
	case action == "/" && r.Method == http.MethodGet:
		list, err := user.GetTasks(w.Ctx)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, t := range list {
			mark := " "
			if t.Completed {
				mark = "x"
			}
			fmt.Fprintf(&b, "[%s] %d %s\n", mark, t.ID, t.Title)
		}
		return workers.NewResponse(http.StatusOK, b.String()), nil
	case action == "/new" && r.Method == http.MethodPost:
		err = user.CreateTask(w.Ctx, r.FormValue("title"))
	case (action == "/complete" || action == "/uncomplete") && r.Method == http.MethodPost:
		id, perr := strconv.ParseInt(r.FormValue("id"), 10, 64)
		if perr != nil {
			return workers.NewResponse(http.StatusBadRequest, "Invalid id.\n"), nil
		}
		if action == "/complete" {
			err = user.CompleteTask(w.Ctx, id)
		} else {
			err = user.UncompleteTask(w.Ctx, id)
		}
	default:
		return workers.NewResponse(http.StatusMethodNotAllowed, "method not allowed\n"), nil
	}
	if err != nil {
		return nil, err
	}
	resp := workers.NewResponse(http.StatusFound, "")
	resp.Header.Set("Location", "/user/"+m[1]+"/")
	return resp, nil
}

// Worker is public-service's code.
func Worker() workers.Worker { return workers.Worker{Default: workers.New[Site]()} }
