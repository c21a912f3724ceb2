package workers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/seed-29c11ff2/workers/internal/link"
	"github.com/seed-29c11ff2/workers/internal/wrangler"
	"github.com/seed-29c11ff2/workers/transport"
)

// Config is a worker's wrangler configuration (wrangler.toml, wrangler.json
// or wrangler.jsonc), as [LoadConfig] reads it.
type Config struct {
	Name               string         // the worker's name (required)
	Main               string         // the entry module; recorded, never executed
	CompatibilityDate  string         // YYYY-MM-DD
	CompatibilityFlags []string       //
	Vars               map[string]any // [vars]: strings or JSON-like values
	Services           []ServiceConfig
	D1Databases        []D1DatabaseConfig
	Crons              []string // [triggers] crons: schedules of the Scheduled handler
	Path               string   // the file the config was loaded from
	Warnings           []string // keys that were ignored, as wrangler warns about them, in line order

	// Secrets are the values of the .dev.vars file beside the config, as
	// wrangler dev reads them for local development (dotenv syntax). They
	// reach the worker's Env as vars; DevVarsPath is the file, if any.
	Secrets     Secrets
	DevVarsPath string

	DurableObjects []DurableObjectBinding // [[durable_objects.bindings]]
	Migrations     []MigrationConfig      // [[migrations]]
}

// Secrets maps secret names to values. It prints (with fmt or log/slog)
// names only, so that logging a Config does not show what a .dev.vars
// file holds.
type Secrets map[string]string

// Format writes the names of s, each with its value hidden.
func (s Secrets) Format(f fmt.State, verb rune) {
	if s == nil {
		_, _ = io.WriteString(f, "map[]")
		return
	}
	var b strings.Builder
	b.WriteString("map[")
	for i, k := range sortedKeys(s) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + ":" + redacted)
	}
	b.WriteByte(']')
	_, _ = io.WriteString(f, b.String())
}

// LogValue gives slog the names of s, each with its value hidden.
func (s Secrets) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(s))
	for _, k := range sortedKeys(s) {
		attrs = append(attrs, slog.String(k, redacted))
	}
	return slog.GroupValue(attrs...)
}

const redacted = "REDACTED"

// ServiceConfig is one entry of services (either TOML form).
type ServiceConfig struct {
	Binding    string
	Service    string
	Entrypoint string
	Props      map[string]any
	// Address is this project's extension, not a wrangler key: the URL of a
	// worker that runs in another process. See [WithDialer].
	Address string
}

// MigrationConfig is one [[migrations]] entry: the Durable Object classes a
// deployment creates. new_classes (Workers' key-value backend) and
// new_sqlite_classes both make SQLite-backed classes here; renamed_classes,
// deleted_classes and transferred_classes are refused by LoadConfig.
type MigrationConfig struct {
	Tag              string
	NewClasses       []string
	NewSQLiteClasses []string
}

// D1DatabaseConfig is one [[d1_databases]] entry.
type D1DatabaseConfig struct {
	Binding         string
	DatabaseName    string
	DatabaseID      string
	MigrationsDir   string // relative to the config file; default "migrations"
	MigrationsTable string // default "d1_migrations"
}

// LoadConfig reads a wrangler configuration file: wrangler.toml,
// wrangler.json or wrangler.jsonc (comments and trailing commas allowed),
// and the .dev.vars file beside it, if there is one, into Secrets.
// A bad file is an error that names the file and the key or line and wraps
// [ErrInvalidConfig]; keys this package does not run (routes, kv_namespaces,
// [env.*], ...) become Warnings, as wrangler warns about them, but an
// unknown key a small edit away from one it reads ([[service]]) is an
// error that names the key meant. An error about .dev.vars names its line,
// never what the line holds. Files larger than 8 MiB are refused.
func LoadConfig(path string) (*Config, error) {
	f, err := wrangler.Load(path)
	if err != nil {
		var we *wrangler.Error
		if errors.As(err, &we) {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		return nil, fmt.Errorf("workers: load config: %w", err)
	}
	cfg := &Config{
		Name: f.Name, Main: f.Main, CompatibilityDate: f.CompatibilityDate,
		CompatibilityFlags: f.CompatibilityFlags, Vars: f.Vars, Path: path, Warnings: f.Warnings,
		Secrets: f.Secrets, DevVarsPath: f.DevVarsPath, Crons: f.Crons,
	}
	for _, s := range f.Services {
		cfg.Services = append(cfg.Services, ServiceConfig(s))
	}
	for _, d := range f.D1Databases {
		cfg.D1Databases = append(cfg.D1Databases, D1DatabaseConfig(d))
	}
	for _, b := range f.DurableObjects {
		cfg.DurableObjects = append(cfg.DurableObjects, DurableObjectBinding(b))
	}
	for _, m := range f.Migrations {
		cfg.Migrations = append(cfg.Migrations, MigrationConfig(m))
	}
	return cfg, nil
}

// RegisterConfig registers code under cfg.Name with everything the config
// declares added to it: vars, service bindings (with entrypoints and props)
// and D1 databases, opened in SQLite files under .wrangler/state/d1 beside
// the config (or under [WithStateDir]) with their migrations applied. The
// registry closes the databases on Close. Service entries with an address
// register a remote worker through the registry's dialer ([WithDialer]).
// Warnings of the config are logged.
//
// A var defined in more than one place takes its value from the most
// specific: code.Vars over cfg.Secrets (.dev.vars) over cfg.Vars ([vars]).
// The file's two follow wrangler dev, where .dev.vars overrides [vars]. Code
// wins as wrangler dev's --var wins over the file: a value set in code was
// chosen for this program (a test's fake endpoint, say), and a later edit of
// a shared file must not change it behind the program's back. Which source
// won is logged at debug level, by name only.
//
// D1 needs package d1 linked in: import it, as database/sql needs a driver.
func (r *Registry) RegisterConfig(cfg *Config, code Worker) error {
	if cfg == nil {
		return fmt.Errorf("%w: nil Config", ErrInvalidConfig)
	}
	file := cfg.Path
	if file == "" {
		file = "config"
	}
	if cfg.Name == "" {
		return fmt.Errorf("%w: %s: name: missing", ErrInvalidConfig, file)
	}
	// Before anything is opened or dialed: a closed registry would refuse
	// the worker only after its databases were created and migrated.
	if r.track.closed() {
		return fmt.Errorf("register worker %q (%s): %w", cfg.Name, file, ErrClosed)
	}
	for _, w := range cfg.Warnings {
		r.logger().Warn("workers: config: "+w, "worker", cfg.Name)
	}
	w := code
	w.Vars = r.configVars(cfg, code.Vars)
	w.Bindings = merge(code.Bindings, nil)
	w.Crons = append([]string(nil), code.Crons...)
	for _, c := range cfg.Crons {
		if !slices.Contains(w.Crons, c) {
			w.Crons = append(w.Crons, c)
		}
	}
	w.Services = append([]Service(nil), code.Services...)
	for _, s := range cfg.Services {
		svc := Service{Binding: s.Binding, Service: s.Service, Entrypoint: s.Entrypoint}
		if s.Props != nil {
			svc.Props = s.Props
		}
		w.Services = append(w.Services, svc)
		if s.Address != "" && r.opts.dialer == nil {
			return fmt.Errorf("%w: %s: service %q has address %q, but the registry has no dialer: create it with workers.WithDialer(remote.Dialer(...))", ErrInvalidConfig, file, s.Service, s.Address)
		}
	}
	if err := r.configDurable(cfg, file, code, &w); err != nil {
		return err
	}
	var opened []io.Closer
	fail := func(err error) error {
		for _, c := range opened {
			r.release(c)
		}
		return err
	}
	for i, d := range cfg.D1Databases {
		if _, taken := w.Bindings[d.Binding]; taken {
			return fail(fmt.Errorf("%w: %s: d1_databases[%d].binding: %q is already a binding of the code", ErrInvalidConfig, file, i, d.Binding))
		}
		db, err := r.openD1(cfg, d)
		if err != nil {
			// %w twice: the cause (a *d1.MigrationError, say) stays matchable.
			return fail(fmt.Errorf("%w: %s: d1_databases[%d] (%s): %w", ErrInvalidConfig, file, i, d.Binding, err))
		}
		opened = append(opened, db)
		w.Bindings[d.Binding] = db
	}
	if err := r.Register(cfg.Name, w); err != nil {
		return fail(err)
	}
	// Remote services last: a failure above leaves no remote registered.
	for _, s := range cfg.Services {
		if s.Address != "" {
			if err := r.dialRemote(file, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// configVars merges the vars of cfg and code, each of them overriding
// the ones before it: [vars], then .dev.vars, then code.
func (r *Registry) configVars(cfg *Config, code map[string]any) map[string]any {
	n := len(cfg.Vars) + len(cfg.Secrets) + len(code)
	out, from := make(map[string]any, n), make(map[string]string, n)
	set := func(k string, v any, source string) {
		if prev, ok := from[k]; ok {
			r.logger().Debug("workers: config: var overridden", "worker", cfg.Name, "var", k, "by", source, "over", prev)
		}
		out[k], from[k] = v, source
	}
	for k, v := range cfg.Vars {
		set(k, v, "[vars]")
	}
	for _, k := range sortedKeys(cfg.Secrets) {
		set(k, cfg.Secrets[k], ".dev.vars")
	}
	for _, k := range sortedKeys(code) {
		set(k, code[k], "Worker.Vars")
	}
	return out
}

func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// WithDialer sets how [Registry.RegisterConfig] reaches a service whose
// config entry has an address: d makes its transport. Package remote
// provides one (remote.Dialer).
func WithDialer(d transport.Dialer) Option {
	return optionFunc(func(o *options) { o.dialer = d })
}

func (r *Registry) dialRemote(file string, s ServiceConfig) error {
	r.mu.RLock()
	wk := r.workers[s.Service]
	r.mu.RUnlock()
	if wk != nil {
		if wk.remote == nil {
			return fmt.Errorf("%w: %s: service %q has address %q, but a local worker of that name is registered", ErrInvalidConfig, file, s.Service, s.Address)
		}
		return nil // another config reached it already
	}
	if r.opts.dialer == nil {
		return fmt.Errorf("%w: %s: service %q has address %q, but the registry has no dialer: create it with workers.WithDialer(remote.Dialer(...))", ErrInvalidConfig, file, s.Service, s.Address)
	}
	t, err := r.opts.dialer(s.Service, s.Address)
	if err != nil {
		return fmt.Errorf("%w: %s: service %q at %q: %v", ErrInvalidConfig, file, s.Service, s.Address, err)
	}
	return r.RegisterRemote(s.Service, t)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// openD1 opens (or shares, when another config of this registry opened the
// same file) the database of one d1_databases entry.
func (r *Registry) openD1(cfg *Config, d D1DatabaseConfig) (io.Closer, error) {
	driver := link.D1()
	if driver == nil {
		return nil, errors.New(`D1 is not linked in: import _ "github.com/seed-29c11ff2/workers/d1"`)
	}
	dir := filepath.Dir(cfg.Path)
	state := r.opts.stateDir
	if state == "" {
		state = filepath.Join(dir, ".wrangler", "state")
	}
	name := d.DatabaseName
	if name == "" {
		name = d.Binding
	}
	file := filepath.Join(state, "d1", unsafeName.ReplaceAllString(name, "_")+".sqlite")
	migrations := d.MigrationsDir
	if migrations == "" {
		migrations = "migrations"
	}
	if !filepath.IsAbs(migrations) {
		migrations = filepath.Join(dir, migrations)
	}
	if _, err := os.Stat(migrations); errors.Is(err, fs.ErrNotExist) {
		migrations = ""
	}
	c, err := r.openShared(driver, file)
	if err != nil {
		return nil, err
	}
	// Migrate a shared handle too: each config brings its own migrations
	// dir, and applying a dir twice applies nothing the second time.
	if migrations != "" {
		if err := driver.Migrate(c, migrations, d.MigrationsTable); err != nil {
			r.release(c)
			return nil, err
		}
	}
	return c, nil
}

// openShared opens file, or shares the handle another config of this
// registry opened.
func (r *Registry) openShared(driver link.D1Driver, file string) (io.Closer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if db, ok := r.databases[file]; ok {
		db.refs++
		return db.c, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	c, err := driver.Open(file)
	if err != nil {
		return nil, err
	}
	if r.databases == nil {
		r.databases = map[string]*sharedDB{}
	}
	r.databases[file] = &sharedDB{c: c, refs: 1}
	r.closers = append(r.closers, c)
	return c, nil
}

type sharedDB struct {
	c    io.Closer
	refs int
}

// release undoes one openD1 when registration fails after it.
func (r *Registry) release(c io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for file, db := range r.databases {
		if db.c != c {
			continue
		}
		if db.refs--; db.refs > 0 {
			return
		}
		delete(r.databases, file)
		for i, cl := range r.closers {
			if cl == c {
				r.closers = append(r.closers[:i], r.closers[i+1:]...)
				break
			}
		}
		_ = c.Close()
		return
	}
}
