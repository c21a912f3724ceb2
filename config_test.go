package workers_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/d1"
	"github.com/seed-29c11ff2/workers/transport"
	"github.com/seed-29c11ff2/workers/workerstest"
)

// configDir is where the configuration files of these tests live.
const configDir = "testdata/config"

// loadConfig loads testdata/config/<rel> and fails the test if that fails.
func loadConfig(t testing.TB, rel string) *workers.Config {
	t.Helper()
	cfg, err := workers.LoadConfig(filepath.Join(configDir, rel))
	require.NoError(t, err)
	return cfg
}

// copyConfig copies the directory testdata/config/<rel> into a new temporary
// directory, so that a test may write state beside the config, and returns
// that directory.
func copyConfig(t testing.TB, rel string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(filepath.Join(configDir, rel))))
	return dst
}

// registerConfig loads path and registers code under its name in reg.
func registerConfig(t testing.TB, reg *workers.Registry, path string, code workers.Worker) *workers.Config {
	t.Helper()
	cfg, err := workers.LoadConfig(path)
	require.NoError(t, err)
	require.NoError(t, reg.RegisterConfig(cfg, code))
	return cfg
}

// errNoBinding is returned by cfgProbe for a name its Env does not have.
var errNoBinding = errors.New("no such binding")

// cfgProbe reports what its Env holds, so that tests see a worker's
// configuration from the inside.
type cfgProbe struct{ workers.Entrypoint }

func (w *cfgProbe) Names() []string { return w.Env.Names() }

func (w *cfgProbe) Var(name string) string { return w.Env.Var(name) }

func (w *cfgProbe) Get(name string) (any, error) {
	v, ok := w.Env.Get(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", errNoBinding, name)
	}
	return v, nil
}

// Kind returns the Go type of the binding name.
func (w *cfgProbe) Kind(name string) string {
	v, _ := w.Env.Get(name)
	return fmt.Sprintf("%T", v)
}

// Target returns the service binding name as configured.
func (w *cfgProbe) Target(name string) workers.Service { return w.Env.Service(name).Target() }

// shopWant is testdata/config/forms/* as LoadConfig must read it.
func shopWant(path string) *workers.Config {
	return &workers.Config{
		Name:               "shop",
		Main:               "src/index.ts",
		CompatibilityDate:  "2024-09-23",
		CompatibilityFlags: []string{"nodejs_compat"},
		Vars: map[string]any{
			"GREETING": "Hello",
			"DEBUG":    true,
			"RETRIES":  int64(3),
			"RATIO":    0.5,
			"REGIONS":  []any{"eu", "us"},
			"LIMITS":   map[string]any{"max": int64(3)},
		},
		Services: []workers.ServiceConfig{
			{Binding: "CART", Service: "cart"},
			{
				Binding: "ADMIN", Service: "todo-app", Entrypoint: "AdminEntrypoint",
				Props: map[string]any{"clientId": "frontend-worker", "permissions": []any{"read", "write"}},
			},
			{
				Binding: "BILLING", Service: "billing", Entrypoint: "Invoices",
				Props: map[string]any{"plan": "pro", "seats": int64(10)},
			},
		},
		D1Databases: []workers.D1DatabaseConfig{{
			Binding: "DB", DatabaseName: "shop-db", DatabaseID: "8c1a8a3e-8a4f-4e8d-9a3e-6b1f2a3c4d5e",
			MigrationsDir: "migrations", MigrationsTable: "d1_migrations",
		}},
		Path: path,
	}
}

// The three formats and both TOML forms of services read to the same Config.
func TestLoadConfigFormats(t *testing.T) {
	tests := []struct{ name, file string }{
		{"toml [[services]] with a props table", "forms/tables.toml"},
		{"toml services = [ {...} ] with inline props", "forms/inline.toml"},
		{"json", "forms/wrangler.json"},
		{"jsonc with comments and trailing commas", "forms/wrangler.jsonc"},
	}
	var first *workers.Config
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(configDir, tc.file)
			cfg, err := workers.LoadConfig(path)
			require.NoError(t, err)
			assert.Equal(t, shopWant(path), cfg)
			assert.Empty(t, cfg.Warnings)

			if first == nil {
				first = cfg
				return
			}
			same := *cfg
			same.Path = first.Path
			assert.Equal(t, first, &same, "%s differs from %s", tc.file, tests[0].file)
		})
	}
}

// Vars reach Env: Var gives text (JSON for non-strings), Get the value;
// services and D1 databases are bindings too, under cfg.Name.
func TestRegisterConfigEnv(t *testing.T) {
	for _, file := range []string{"forms/tables.toml", "forms/inline.toml", "forms/wrangler.jsonc"} {
		t.Run(file, func(t *testing.T) {
			reg := workerstest.New(t) // D1 files under t.TempDir()
			workerstest.Load(t, reg, filepath.Join(configDir, file), workers.Worker{
				Default: workers.New[cfgProbe](),
				Vars:    map[string]any{"CODE_VAR": "from code"},
			})
			probe := bind(reg, "shop") // registered under cfg.Name
			ctx := t.Context()

			names, err := workers.Call[[]string](ctx, probe, "Names")
			require.NoError(t, err)
			assert.Equal(t, []string{"ADMIN", "BILLING", "CART", "CODE_VAR", "DB", "DEBUG",
				"GREETING", "LIMITS", "RATIO", "REGIONS", "RETRIES"}, names)

			vars := []struct {
				name  string
				text  string
				value any
			}{
				{"GREETING", "Hello", "Hello"},
				{"DEBUG", "true", true},
				{"RETRIES", "3", int64(3)},
				{"RATIO", "0.5", 0.5},
				{"REGIONS", `["eu","us"]`, []any{"eu", "us"}},
				{"LIMITS", `{"max":3}`, map[string]any{"max": int64(3)}},
				{"CODE_VAR", "from code", "from code"},
			}
			for _, v := range vars {
				text, err := workers.Call[string](ctx, probe, "Var", v.name)
				require.NoError(t, err)
				assert.Equal(t, v.text, text, "Env.Var(%q)", v.name)
				value, err := probe.Call(ctx, "Get", v.name)
				require.NoError(t, err)
				assert.Equal(t, v.value, value, "Env.Get(%q)", v.name)
			}
			text, err := workers.Call[string](ctx, probe, "Var", "MISSING")
			require.NoError(t, err)
			assert.Empty(t, text)
			_, err = probe.Call(ctx, "Get", "MISSING")
			assert.ErrorIs(t, err, errNoBinding)

			kind, err := workers.Call[string](ctx, probe, "Kind", "DB")
			require.NoError(t, err)
			assert.Equal(t, "*d1.Database", kind)

			services := []workers.Service{
				{Binding: "CART", Service: "cart"},
				{Binding: "ADMIN", Service: "todo-app", Entrypoint: "AdminEntrypoint",
					Props: map[string]any{"clientId": "frontend-worker", "permissions": []any{"read", "write"}}},
				{Binding: "BILLING", Service: "billing", Entrypoint: "Invoices",
					Props: map[string]any{"plan": "pro", "seats": int64(10)}},
			}
			for _, want := range services {
				got, err := workers.Call[workers.Service](ctx, probe, "Target", want.Binding)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
		})
	}
}

// Keys wrangler knows but this package does not run become warnings, and
// RegisterConfig logs them.
func TestConfigWarnings(t *testing.T) {
	cfg := loadConfig(t, "warn/wrangler.toml")
	file := filepath.Join(configDir, "warn/wrangler.toml")
	require.Len(t, cfg.Warnings, 4)
	for _, key := range []string{"workers_dev", "routes", "kv_namespaces", "services[0].environment"} {
		assert.True(t, containsWith(cfg.Warnings, file, key+":"), "no warning names %s in %q", key, cfg.Warnings)
	}
	// The rest of the file still counts.
	assert.Equal(t, map[string]any{"GREETING": "Hello"}, cfg.Vars)
	assert.Equal(t, []workers.ServiceConfig{{Binding: "PEER", Service: "peer"}}, cfg.Services)

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	reg := newRegistry(t, workers.WithLogger(logger))
	require.NoError(t, reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[cfgProbe]()}))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, len(cfg.Warnings), "logged: %s", logs.String())
	for _, w := range cfg.Warnings {
		assert.True(t, containsWith(lines, "level=WARN", "worker=warned", w), "warning %q not logged in %s", w, logs.String())
	}

	// A clean file logs nothing.
	logs = syncBuffer{}
	reg2 := newRegistry(t, workers.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), workers.WithStateDir(t.TempDir()))
	require.NoError(t, reg2.RegisterConfig(loadConfig(t, "forms/tables.toml"), workers.Worker{Default: workers.New[cfgProbe]()}))
	assert.Empty(t, logs.String())
}

// containsWith reports whether one of lines contains every one of subs.
func containsWith(lines []string, subs ...string) bool {
	for _, l := range lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
	}
	return false
}

// A bad file is an ErrInvalidConfig error naming the file and the key or line.
func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // in the message, besides the file
	}{
		{"malformed.toml", []string{":3:", "table"}},
		{"malformed.jsonc", []string{":3:"}},
		{"no-binding.toml", []string{"services[0].binding", "missing"}},
		{"no-service.toml", []string{"services[0].service", "missing"}},
		{"no-service.jsonc", []string{":4:", "services[0].service", "missing"}},
		{"wrong-type.toml", []string{"services[0].binding", "expected string", "integer"}},
		{"wrong-type.json", []string{":3:", "vars", "expected object", "array"}},
		{"services-table.toml", []string{"services", "[[services]]"}},
		{"missing-name.toml", []string{"name", "missing"}},
		{"missing-name.jsonc", []string{"name", "missing"}},
		{"dup-binding.toml", []string{"services[1].binding", `"PEER"`, "services[0].binding"}},
		{"dup-binding-kinds.toml", []string{"d1_databases[0].binding", `"DB"`, "vars.DB"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(configDir, "bad", tc.file)
			cfg, err := workers.LoadConfig(path)
			require.Error(t, err)
			assert.Nil(t, cfg)
			assert.ErrorIs(t, err, workers.ErrInvalidConfig)
			assert.Contains(t, err.Error(), path)
			for _, s := range tc.want {
				assert.Contains(t, err.Error(), s)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wrangler.toml")
		_, err := workers.LoadConfig(path)
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.NotErrorIs(t, err, workers.ErrInvalidConfig, "a file that cannot be read is not an invalid one")
		assert.Contains(t, err.Error(), path)
	})
	t.Run("too large", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wrangler.toml")
		data := []byte("name = \"big\"\n#" + strings.Repeat("x", 8<<20))
		require.NoError(t, os.WriteFile(path, data, 0o644))
		_, err := workers.LoadConfig(path)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, path+": file is larger than 8 MiB")
	})
	t.Run("unsupported extension", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wrangler.yaml")
		require.NoError(t, os.WriteFile(path, []byte("name: x\n"), 0o644))
		_, err := workers.LoadConfig(path)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, path)
	})
}

func TestRegisterConfigErrors(t *testing.T) {
	code := workers.Worker{Default: workers.New[cfgProbe]()}

	t.Run("nil config", func(t *testing.T) {
		err := newRegistry(t).RegisterConfig(nil, code)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
	})
	t.Run("missing name", func(t *testing.T) {
		err := newRegistry(t).RegisterConfig(&workers.Config{Path: "app/wrangler.toml"}, code)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, "app/wrangler.toml")
		assert.ErrorContains(t, err, "name")
	})
	t.Run("name taken", func(t *testing.T) {
		reg := workerstest.New(t)
		cfg := workerstest.Load(t, reg, filepath.Join(configDir, "forms/tables.toml"), code)
		err := reg.RegisterConfig(cfg, code)
		assert.ErrorIs(t, err, workers.ErrInvalidWorker)
		assert.ErrorContains(t, err, `"shop"`)
		// The first registration still works.
		_, err = bind(reg, "shop").Call(t.Context(), "Names")
		assert.NoError(t, err)
	})
	t.Run("code binding named like a database", func(t *testing.T) {
		reg := newRegistry(t, workers.WithStateDir(t.TempDir()))
		cfg := loadConfig(t, "forms/tables.toml")
		err := reg.RegisterConfig(cfg, workers.Worker{
			Default:  workers.New[cfgProbe](),
			Bindings: map[string]any{"DB": "mine"},
		})
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, cfg.Path)
		assert.ErrorContains(t, err, "d1_databases[0]")
		_, err = bind(reg, "shop").Call(t.Context(), "Names")
		assert.ErrorIs(t, err, workers.ErrServiceNotFound, "a refused config registers nothing")
	})
	t.Run("type that is no worker", func(t *testing.T) {
		reg := newRegistry(t, workers.WithStateDir(t.TempDir()))
		err := reg.RegisterConfig(loadConfig(t, "forms/tables.toml"), workers.Worker{Default: workers.New[struct{ X int }]()})
		assert.ErrorIs(t, err, workers.ErrInvalidWorker)
	})
	t.Run("closed registry", func(t *testing.T) {
		dir := copyConfig(t, "d1")
		reg := newRegistry(t)
		require.NoError(t, reg.Close(t.Context()))
		err := reg.RegisterConfig(loadConfig(t, "forms/tables.toml"), code)
		assert.ErrorIs(t, err, workers.ErrClosed)
		cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.toml"))
		require.NoError(t, err)
		err = reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[cfgNotes]()})
		assert.ErrorIs(t, err, workers.ErrClosed)
		assert.ErrorContains(t, err, `"notes"`)
		assert.NoDirExists(t, filepath.Join(dir, ".wrangler"), "no database was created")
	})
	t.Run("migration that fails", func(t *testing.T) {
		dir := copyConfig(t, "d1")
		bad := filepath.Join(dir, "migrations", "0003_broken.sql")
		require.NoError(t, os.WriteFile(bad, []byte("CREATE TABLE (;\n"), 0o644))
		reg := newRegistry(t)
		cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.toml"))
		require.NoError(t, err)
		err = reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[cfgNotes]()})
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, cfg.Path)
		assert.ErrorContains(t, err, "d1_databases[0]")
		assert.ErrorContains(t, err, "0003_broken.sql")
		var migErr *d1.MigrationError
		require.ErrorAs(t, err, &migErr, "the cause keeps its identity")
		assert.Equal(t, "0003_broken.sql", migErr.Name)
		_, err = bind(reg, "notes").Call(t.Context(), "Count")
		assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	})
}

// hop is what one worker of a chain saw: who it is, which entrypoint ran,
// the props it got, and what the next worker saw.
type hop struct {
	Worker     string
	Entrypoint string
	Props      any
	Var        string
	Next       []hop
}

// composeFront calls back through both of its bindings.
type composeFront struct{ workers.Entrypoint }

func (w *composeFront) Chain() (hop, error) {
	h := hop{Worker: w.Env.Worker(), Entrypoint: "default", Props: w.Ctx.Props()}
	for _, binding := range []string{"BACK", "BACK_PUBLIC"} {
		next, err := workers.Call[hop](w.Ctx, w.Env.Service(binding), "Chain")
		if err != nil {
			return hop{}, fmt.Errorf("%s: %w", binding, err)
		}
		h.Next = append(h.Next, next)
	}
	return h, nil
}

// composeBack is back's default entrypoint; composeBackAdmin its Admin one.
type composeBack struct{ workers.Entrypoint }

func (w *composeBack) Chain() (hop, error) { return backChain(w.Entrypoint, "default") }

type composeBackAdmin struct{ workers.Entrypoint }

func (w *composeBackAdmin) Chain() (hop, error) { return backChain(w.Entrypoint, "Admin") }

func backChain(e workers.Entrypoint, name string) (hop, error) {
	h := hop{Worker: e.Env.Worker(), Entrypoint: name, Props: e.Ctx.Props(), Var: e.Env.Var("PREFIX")}
	next, err := workers.Call[hop](e.Ctx, e.Env.Service("AUDIT"), "Chain")
	if err != nil {
		return hop{}, err
	}
	h.Next = []hop{next}
	return h, nil
}

type composeAudit struct{ workers.Entrypoint }

func (w *composeAudit) Chain() hop {
	return hop{Worker: w.Env.Worker(), Entrypoint: "default", Props: w.Ctx.Props(), Var: w.Env.Var("LEVEL")}
}

// Workers with a file each compose in one registry and reach each other
// through the bindings their files declare, entrypoints and props included.
func TestRegisterConfigComposes(t *testing.T) {
	reg := newRegistry(t)
	dir := filepath.Join(configDir, "compose")
	registerConfig(t, reg, filepath.Join(dir, "front", "wrangler.toml"), workers.Worker{Default: workers.New[composeFront]()})
	registerConfig(t, reg, filepath.Join(dir, "back", "wrangler.jsonc"), workers.Worker{
		Default:     workers.New[composeBack](),
		Entrypoints: map[string]workers.Constructor{"Admin": workers.New[composeBackAdmin]()},
	})
	registerConfig(t, reg, filepath.Join(dir, "audit", "wrangler.json"), workers.Worker{Default: workers.New[composeAudit]()})
	require.NoError(t, reg.Validate())

	got, err := workers.Call[hop](t.Context(), bind(reg, "front"), "Chain")
	require.NoError(t, err)
	audit := hop{Worker: "audit", Entrypoint: "default", Props: map[string]any{"caller": "back"}, Var: `{"min":1}`}
	want := hop{Worker: "front", Entrypoint: "default", Next: []hop{
		{
			Worker: "back", Entrypoint: "Admin", Var: "back says",
			Props: map[string]any{"clientId": "front", "permissions": []any{"read", "write"}},
			Next:  []hop{audit},
		},
		{Worker: "back", Entrypoint: "default", Var: "back says", Next: []hop{audit}},
	}}
	assert.Equal(t, want, got)
}

// A missing worker is found by Validate, naming the binding declared in the
// file.
func TestRegisterConfigValidate(t *testing.T) {
	reg := newRegistry(t)
	registerConfig(t, reg, filepath.Join(configDir, "compose", "front", "wrangler.toml"), workers.Worker{Default: workers.New[composeFront]()})
	registerConfig(t, reg, filepath.Join(configDir, "compose", "back", "wrangler.jsonc"), workers.Worker{Default: workers.New[composeBack]()})
	err := reg.Validate()
	require.Error(t, err)
	for _, s := range []string{`"BACK"`, `"Admin"`, `"AUDIT"`, `"audit"`} {
		assert.ErrorContains(t, err, s)
	}
	assert.NotContains(t, err.Error(), "BACK_PUBLIC")
}

// farTransport stands in for a worker in another process.
type farTransport struct{ calls []*transport.Call }

func (f *farTransport) Call(_ context.Context, call *transport.Call) (any, error) {
	f.calls = append(f.calls, call)
	return "pong from far", nil
}

func (f *farTransport) Fetch(context.Context, *transport.Call, *http.Request) (*http.Response, error) {
	return nil, errors.New("no fetch")
}

type farCaller struct{ workers.Entrypoint }

func (w *farCaller) Ping() (any, error) { return w.Env.Service("FAR").Call(w.Ctx, "Ping", 1) }

func TestRegisterConfigAddress(t *testing.T) {
	code := workers.Worker{Default: workers.New[farCaller]()}

	t.Run("without a dialer", func(t *testing.T) {
		reg := newRegistry(t)
		cfg := loadConfig(t, "remote/wrangler.toml")
		err := reg.RegisterConfig(cfg, code)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		for _, s := range []string{cfg.Path, `"far"`, "http://127.0.0.1:9", "no dialer", "WithDialer"} {
			assert.ErrorContains(t, err, s)
		}
		_, err = bind(reg, "caller").Call(t.Context(), "Ping")
		assert.ErrorIs(t, err, workers.ErrServiceNotFound)
	})

	t.Run("with a dialer", func(t *testing.T) {
		far := &farTransport{}
		var dialed []string
		reg := newRegistry(t, workers.WithDialer(func(service, address string) (transport.Transport, error) {
			dialed = append(dialed, service+" "+address)
			return far, nil
		}))
		registerConfig(t, reg, filepath.Join(configDir, "remote", "wrangler.toml"), code)
		assert.Equal(t, []string{"far http://127.0.0.1:9"}, dialed)
		got, err := bind(reg, "caller").Call(t.Context(), "Ping")
		require.NoError(t, err)
		assert.Equal(t, "pong from far", got)
		require.Len(t, far.calls, 1)
		assert.Equal(t, "far", far.calls[0].Service)
		assert.Equal(t, "Ping", far.calls[0].Method)
		assert.Equal(t, []any{1}, far.calls[0].Args)
	})

	t.Run("dialer fails", func(t *testing.T) {
		reg := newRegistry(t, workers.WithDialer(func(string, string) (transport.Transport, error) {
			return nil, errors.New("connection refused")
		}))
		err := reg.RegisterConfig(loadConfig(t, "remote/wrangler.toml"), code)
		assert.ErrorIs(t, err, workers.ErrInvalidConfig)
		assert.ErrorContains(t, err, "connection refused")
	})
}

// cfgNotes is the worker of testdata/config/d1: it keeps notes in DB.
type cfgNotes struct{ workers.Entrypoint }

func notesDB(e *workers.Env) (*d1.Database, error) {
	db, ok := workers.Get[*d1.Database](e, "DB")
	if !ok {
		return nil, errors.New("no D1 binding DB")
	}
	return db, nil
}

func (w *cfgNotes) Add(body string) (int64, error) {
	db, err := notesDB(w.Env)
	if err != nil {
		return 0, err
	}
	res, err := db.Prepare("INSERT INTO notes (body) VALUES (?)").Bind(body).Run(w.Ctx)
	if err != nil {
		return 0, err
	}
	return res.Meta.LastRowID, nil
}

func (w *cfgNotes) Count() (int64, error) {
	db, err := notesDB(w.Env)
	if err != nil {
		return 0, err
	}
	n, err := db.Prepare("SELECT count(*) AS n FROM notes").FirstValue(w.Ctx, "n")
	if err != nil {
		return 0, err
	}
	return n.(int64), nil
}

// Migrations lists the applied migrations.
func (w *cfgNotes) Migrations() ([]string, error) {
	db, err := notesDB(w.Env)
	if err != nil {
		return nil, err
	}
	rows, err := db.Prepare("SELECT name FROM " + d1.MigrationsTable + " ORDER BY name").Raw(w.Ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r[0].(string)
	}
	return names, nil
}

// WithDB hands the database binding to fn, so a test can keep it.
func (w *cfgNotes) WithDB(fn func(*d1.Database)) error {
	db, err := notesDB(w.Env)
	if err != nil {
		return err
	}
	fn(db)
	return nil
}

var notesMigrations = []string{"0001_create_notes.sql", "0002_add_author.sql"}

func TestRegisterConfigD1(t *testing.T) {
	code := workers.Worker{Default: workers.New[cfgNotes]()}

	t.Run("state beside the config", func(t *testing.T) {
		dir := copyConfig(t, "d1")
		reg := newRegistry(t)
		registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), code)
		assert.FileExists(t, filepath.Join(dir, ".wrangler", "state", "d1", "notes-db.sqlite"))

		notes := bind(reg, "notes")
		migrations, err := workers.Call[[]string](t.Context(), notes, "Migrations")
		require.NoError(t, err)
		assert.Equal(t, notesMigrations, migrations)
		id, err := workers.Call[int64](t.Context(), notes, "Add", "hello")
		require.NoError(t, err)
		assert.Equal(t, int64(1), id)
	})

	t.Run("WithStateDir", func(t *testing.T) {
		dir, state := copyConfig(t, "d1"), t.TempDir()
		reg := newRegistry(t, workers.WithStateDir(state))
		registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), code)
		assert.FileExists(t, filepath.Join(state, "d1", "notes-db.sqlite"))
		assert.NoDirExists(t, filepath.Join(dir, ".wrangler"))
		_, err := workers.Call[int64](t.Context(), bind(reg, "notes"), "Add", "hello")
		assert.NoError(t, err)
	})

	t.Run("migrations_dir that does not exist", func(t *testing.T) {
		dir := copyConfig(t, "d1")
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "migrations")))
		reg := newRegistry(t)
		registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), code)
		_, err := workers.Call[int64](t.Context(), bind(reg, "notes"), "Count")
		var dbErr *d1.Error
		require.ErrorAs(t, err, &dbErr, "no migrations ran, so there is no table")
		assert.ErrorContains(t, err, "no such table")
	})
}

// Migrations are applied once per database file, however many registries
// open it, at the same time or one after another.
func TestRegisterConfigMigrationsApplyOnce(t *testing.T) {
	dir := copyConfig(t, "d1")
	path := filepath.Join(dir, "wrangler.toml")
	code := workers.Worker{Default: workers.New[cfgNotes]()}
	ctx := t.Context()

	first := newRegistry(t)
	registerConfig(t, first, path, code)
	_, err := workers.Call[int64](ctx, bind(first, "notes"), "Add", "from the first registry")
	require.NoError(t, err)

	// A second registry on the same state while the first is open: the
	// migrations, which fail when applied twice, are not applied again.
	second := newRegistry(t)
	registerConfig(t, second, path, code)
	for _, reg := range []*workers.Registry{first, second} {
		migrations, err := workers.Call[[]string](ctx, bind(reg, "notes"), "Migrations")
		require.NoError(t, err)
		assert.Equal(t, notesMigrations, migrations)
		n, err := workers.Call[int64](ctx, bind(reg, "notes"), "Count")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "both registries see the same file")
	}
	require.NoError(t, first.Close(ctx))
	require.NoError(t, second.Close(ctx))

	// And a third once both are closed.
	third := newRegistry(t)
	registerConfig(t, third, path, code)
	migrations, err := workers.Call[[]string](ctx, bind(third, "notes"), "Migrations")
	require.NoError(t, err)
	assert.Equal(t, notesMigrations, migrations)
}

// Registry.Close closes the databases RegisterConfig opened.
func TestRegistryCloseClosesDatabases(t *testing.T) {
	dir := copyConfig(t, "d1")
	reg := newRegistry(t)
	registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), workers.Worker{Default: workers.New[cfgNotes]()})
	var db *d1.Database
	_, err := bind(reg, "notes").Call(t.Context(), "WithDB", func(d *d1.Database) { db = d })
	require.NoError(t, err)
	require.NotNil(t, db)
	_, err = db.Prepare("SELECT count(*) FROM notes").First(t.Context())
	require.NoError(t, err, "open before Close")

	require.NoError(t, reg.Close(t.Context()))
	_, err = db.Prepare("SELECT count(*) FROM notes").First(t.Context())
	assert.ErrorIs(t, err, d1.ErrClosed)
	_, err = bind(reg, "notes").Call(t.Context(), "Count")
	assert.ErrorIs(t, err, workers.ErrClosed)
}

// Two workers of one registry that name the same database share one open
// database.
func TestRegisterConfigSharedDatabase(t *testing.T) {
	dir := copyConfig(t, "d1")
	reg := newRegistry(t)
	cfg := registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), workers.Worker{Default: workers.New[cfgNotes]()})
	twin := *cfg
	twin.Name = "notes-twin"
	twin.Services = nil
	require.NoError(t, reg.RegisterConfig(&twin, workers.Worker{Default: workers.New[cfgNotes]()}))

	var dbs []*d1.Database
	for _, name := range []string{"notes", "notes-twin"} {
		_, err := bind(reg, name).Call(t.Context(), "WithDB", func(d *d1.Database) { dbs = append(dbs, d) })
		require.NoError(t, err)
	}
	require.Len(t, dbs, 2)
	assert.Same(t, dbs[0], dbs[1])
}

// A second config that shares a database brings its own migrations: they are
// applied to the shared handle too.
func TestRegisterConfigSharedDatabaseMigrates(t *testing.T) {
	dir := copyConfig(t, "d1")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "twin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "twin", "0001_tags.sql"), []byte("CREATE TABLE tags (name TEXT);\n"), 0o644))
	reg := newRegistry(t, workers.WithStateDir(filepath.Join(dir, "state")))
	cfg := registerConfig(t, reg, filepath.Join(dir, "wrangler.toml"), workers.Worker{Default: workers.New[cfgNotes]()})

	twin := *cfg
	twin.Name = "notes-twin"
	twin.Services = nil
	twin.D1Databases = []workers.D1DatabaseConfig{cfg.D1Databases[0]}
	twin.D1Databases[0].MigrationsDir = "twin"
	require.NoError(t, reg.RegisterConfig(&twin, workers.Worker{Default: workers.New[cfgNotes]()}))

	var db *d1.Database
	_, err := bind(reg, "notes-twin").Call(t.Context(), "WithDB", func(d *d1.Database) { db = d })
	require.NoError(t, err)
	_, err = db.Prepare("INSERT INTO tags (name) VALUES (?)").Bind("go").Run(t.Context())
	assert.NoError(t, err, "the twin's migration was not applied to the shared database")
}

func TestRegisterConfigCustomMigrationsTableRefused(t *testing.T) {
	dir := copyConfig(t, "d1")
	reg := newRegistry(t)
	cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.toml"))
	require.NoError(t, err)
	cfg.D1Databases[0].MigrationsTable = "schema_migrations"
	err = reg.RegisterConfig(cfg, workers.Worker{Default: workers.New[cfgNotes]()})
	require.ErrorIs(t, err, workers.ErrInvalidConfig)
	assert.ErrorContains(t, err, "schema_migrations")
}

// A var set in several places takes the most specific value: code over
// .dev.vars over [vars], as wrangler dev's --var beats .dev.vars, which
// beats the file.
func TestRegisterConfigVarsPrecedence(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wrangler.toml"), []byte(
		"name = \"prec\"\n[vars]\nFILE = \"file\"\nSECRET = \"file\"\nCODE = \"file\"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".dev.vars"), []byte(
		"SECRET=dev-secret-value\nCODE=dev-secret-value\nONLY_SECRET=dev-secret-value\n"), 0o600))
	cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.toml"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, ".dev.vars"), cfg.DevVarsPath)

	var logs syncBuffer
	reg := newRegistry(t, workers.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	require.NoError(t, reg.RegisterConfig(cfg, workers.Worker{
		Default: workers.New[cfgProbe](),
		Vars:    map[string]any{"CODE": "code", "ONLY_CODE": "code"},
	}))
	probe := bind(reg, "prec")
	for name, want := range map[string]string{
		"FILE": "file", "SECRET": "dev-secret-value", "ONLY_SECRET": "dev-secret-value",
		"CODE": "code", "ONLY_CODE": "code",
	} {
		got, err := workers.Call[string](t.Context(), probe, "Var", name)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	// Overrides are logged by name, never with the value.
	assert.Contains(t, logs.String(), "var=CODE by=Worker.Vars over=.dev.vars")
	assert.Contains(t, logs.String(), "var=SECRET by=.dev.vars over=[vars]")
	assert.NotContains(t, logs.String(), "dev-secret-value")
}

// Secrets print as names only, with fmt and with slog, so that a logged
// Config does not show them.
func TestConfigSecretsNotPrinted(t *testing.T) {
	cfg := &workers.Config{Name: "a", Secrets: workers.Secrets{"API_KEY": "sk_live_1", "TOKEN": "hunter2"}}
	var out []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out = append(out, fmt.Sprintf(format, cfg), fmt.Sprintf(format, cfg.Secrets))
	}
	var text, js syncBuffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("cfg", "secrets", cfg.Secrets, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("cfg", "secrets", cfg.Secrets)
	out = append(out, text.String(), js.String())
	for _, s := range out {
		assert.NotContains(t, s, "sk_live_1")
		assert.NotContains(t, s, "hunter2")
	}
	assert.Equal(t, "map[API_KEY:REDACTED TOKEN:REDACTED]", fmt.Sprint(cfg.Secrets))
	assert.Contains(t, js.String(), `"secrets":{"API_KEY":"REDACTED","TOKEN":"REDACTED"}`)
}

// A bad .dev.vars is an ErrInvalidConfig naming its file and line, without
// the line's contents.
func TestLoadConfigDevVarsError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wrangler.jsonc"), []byte(`{"name": "a"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".dev.vars"), []byte("OK=1\nAPI_KEY sk_live_secret\n"), 0o600))
	cfg, err := workers.LoadConfig(filepath.Join(dir, "wrangler.jsonc"))
	require.Error(t, err)
	assert.Nil(t, cfg)
	assert.ErrorIs(t, err, workers.ErrInvalidConfig)
	assert.Contains(t, err.Error(), filepath.Join(dir, ".dev.vars")+":2:")
	assert.NotContains(t, err.Error(), "sk_live_secret")
}
