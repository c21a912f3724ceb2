package workers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
)

// AdminEntrypoint is todo-app's named entrypoint for managing users. It
// trusts the props of the binding that calls it: only whoever deploys the
// caller can set them.
type AdminEntrypoint struct{ workers.Entrypoint }

func (w *AdminEntrypoint) CreateUser(name string) (int64, error) {
	props, err := workers.PropsAs[struct {
		ClientID    string   `json:"clientId"`
		Permissions []string `json:"permissions"`
	}](w.Ctx)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(props.Permissions, "write") {
		return 0, fmt.Errorf("client %q may not write", props.ClientID)
	}
	db, _ := workers.Get[*d1.Database](w.Env, "DB") // [[d1_databases]] binding = "DB"
	res, err := db.Prepare("INSERT INTO users (name) VALUES (?)").Bind(name).Run(w.Ctx)
	if err != nil {
		return 0, err
	}
	return res.Meta.LastRowID, nil
}

// AdminApp's fetch calls env.ADMIN.CreateUser("aNewUser").
type AdminApp struct{ workers.Entrypoint }

func (w *AdminApp) Fetch(r *http.Request) (*http.Response, error) {
	id, err := workers.Call[int64](r.Context(), w.Env.Service("ADMIN"), "CreateUser", "aNewUser")
	if err != nil {
		return nil, err
	}
	return workers.NewResponse(http.StatusCreated, fmt.Sprintf("%s, user %d", w.Env.Var("GREETING"), id)), nil
}

// Two workers, each with its wrangler file: admin-app's declares the ADMIN
// service binding (entrypoint and props), todo-app's a D1 database with its
// migrations. RegisterConfig adds what a file declares to the Go code.
func ExampleRegistry_RegisterConfig() {
	// By default the databases live in .wrangler/state beside each file, as
	// with wrangler dev; this example keeps them in a temporary directory.
	state, err := os.MkdirTemp("", "wrangler-state")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(state)
	reg := workers.NewRegistry(workers.WithStateDir(state))
	defer reg.Close(context.Background())

	apps := []struct {
		file string
		code workers.Worker
	}{
		{"testdata/config/example/todo-app/wrangler.jsonc", workers.Worker{
			Entrypoints: map[string]workers.Constructor{"AdminEntrypoint": workers.New[AdminEntrypoint]()},
		}},
		{"testdata/config/example/admin-app/wrangler.toml", workers.Worker{Default: workers.New[AdminApp]()}},
	}
	for _, app := range apps {
		cfg, err := workers.LoadConfig(app.file)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := reg.RegisterConfig(cfg, app.code); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := reg.Validate(); err != nil {
		fmt.Println(err)
		return
	}

	client := &http.Client{Transport: reg.Bind(workers.Service{Service: "admin-app"})}
	resp, err := client.Get("http://admin-app/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s: %s\n", resp.Status, body)
	// Output: 201 Created: Hello, user 1
}
