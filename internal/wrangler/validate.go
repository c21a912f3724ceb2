package wrangler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The keys read from each level. Others are warned about and ignored.
var (
	topLevelKeys = []string{
		"$schema", // editors' JSON schema; wrangler accepts it silently
		"name", "main", "compatibility_date", "compatibility_flags",
		"vars", "services", "d1_databases", "triggers",
		"durable_objects", "migrations", // durable.go
	}
	serviceKeys = []string{"binding", "service", "entrypoint", "props", "address"}
	d1Keys      = []string{"binding", "database_name", "database_id", "migrations_dir", "migrations_table"}
)

// Keys of wrangler's own configuration at each level that this package
// does not run. They are warned about, never mistaken for a misspelling of
// a key that is read (see unknownKeys).
var (
	wranglerTopLevelKeys = []string{
		"account_id", "ai", "alias", "analytics_engine_datasets", "assets", "base_dir",
		"browser", "build", "cloudchamber", "compliance_region", "containers", "data_blobs",
		"define", "dev", "dispatch_namespaces", "env",
		"find_additional_modules", "first_party_worker", "hyperdrive", "images",
		"jsx_factory", "jsx_fragment", "keep_names", "keep_vars", "kv_namespaces",
		"legacy_env", "limits", "logfwdr", "logpush", "minify",
		"mtls_certificates", "no_bundle", "node_compat", "observability",
		"pages_build_output_dir", "pipelines", "placement", "preserve_file_names",
		"preview_urls", "python_modules", "queues", "r2_buckets", "ratelimits", "route",
		"routes", "rules", "secrets_store_secrets", "send_email", "send_metrics", "site",
		"streaming_tail_consumers", "tail_consumers", "text_blobs", "tsconfig", "unsafe",
		"upload_source_maps", "usage_model", "vectorize", "version_metadata",
		"vpc_services", "wasm_modules", "worker_loaders", "workers_dev", "workflows", "zone_id",
	}
	wranglerServiceKeys = []string{"environment", "remote", "experimental_remote"}
	wranglerD1Keys      = []string{"preview_database_id", "remote", "experimental_remote", "database_internal_env"}
)

// workerName is the pattern wrangler checks the name against.
var workerName = regexp.MustCompile(`^[a-z0-9_ ][a-z0-9-_ ]*$`)

// build validates the decoded document and builds the File. It stops at the
// first error; keys and entries are visited in a fixed order so that the
// error reported for a file is always the same one.
func (d *decoder) build(root any) (*File, error) {
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, d.typeError(nil, d.table(), root)
	}
	f := &File{Path: d.file}
	var err error
	if f.Name, err = d.requiredString(obj, nil, "name"); err != nil {
		return nil, err
	}
	if !workerName.MatchString(f.Name) {
		return nil, d.errorf(top.key("name"),
			"%q is not a valid worker name: use lowercase letters, digits, dashes and underscores", f.Name)
	}
	if f.Main, err = d.optionalString(obj, nil, "main"); err != nil {
		return nil, err
	}
	if f.CompatibilityDate, err = d.optionalString(obj, nil, "compatibility_date"); err != nil {
		return nil, err
	}
	if f.CompatibilityDate != "" {
		// workerd refuses anything else; better to say so while loading.
		if _, err := time.Parse(time.DateOnly, f.CompatibilityDate); err != nil {
			return nil, d.errorf(top.key("compatibility_date"),
				"%q is not a date of the form YYYY-MM-DD", f.CompatibilityDate)
		}
	}
	if f.CompatibilityFlags, err = d.stringArray(obj, nil, "compatibility_flags"); err != nil {
		return nil, err
	}
	if f.Vars, err = d.vars(obj); err != nil {
		return nil, err
	}
	if f.Services, err = d.services(obj); err != nil {
		return nil, err
	}
	if f.D1Databases, err = d.d1Databases(obj); err != nil {
		return nil, err
	}
	if f.Crons, err = d.triggers(obj); err != nil {
		return nil, err
	}
	if f.DurableObjects, err = d.durableObjects(obj); err != nil {
		return nil, err
	}
	if f.Migrations, err = d.migrations(obj); err != nil {
		return nil, err
	}
	if err := d.checkDurable(f); err != nil {
		return nil, err
	}
	if err := d.uniqueBindings(f); err != nil {
		return nil, err
	}
	if err := d.unknownKeys(obj, nil, topLevelKeys, wranglerTopLevelKeys); err != nil {
		return nil, err
	}
	f.Warnings = d.warningLines()
	return f, nil
}

func (d *decoder) vars(obj map[string]any) (map[string]any, error) {
	p := top.key("vars")
	v, ok := obj["vars"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.typeError(p, d.table(), v)
	}
	if _, ok := m[""]; ok {
		return nil, d.errorf(p.key(""), "binding name must not be empty")
	}
	return d.jsonObject(m, p, 1)
}

// triggers reads [triggers] crons, checking each schedule. One that uses
// Cloudflare's extensions is a warning, not an error, so that a config
// deployed with one still loads; it does not run here.
func (d *decoder) triggers(obj map[string]any) ([]string, error) {
	p := top.key("triggers")
	v, ok := obj["triggers"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.typeError(p, d.table(), v)
	}
	crons, err := d.stringArray(m, p, "crons")
	if err != nil {
		return nil, err
	}
	var out []string
	for i, c := range crons {
		if _, err := ParseCron(c); err != nil {
			cp := p.key("crons").item(i)
			if errors.Is(err, errCronExtension) {
				line, col := d.position(cp, false)
				d.warn(&Error{File: d.file, Key: cp.String(), Line: line, Column: col,
					Msg: fmt.Sprintf("%q %v; it does not run", c, err)})
				continue
			}
			return nil, d.errorf(cp, "%q: %v", c, err)
		}
		out = append(out, c)
	}
	if err := d.unknownKeys(m, p, []string{"crons"}, nil); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *decoder) services(obj map[string]any) ([]Service, error) {
	p := top.key("services")
	entries, err := d.tables(obj, p)
	if err != nil || entries == nil {
		return nil, err
	}
	out := make([]Service, len(entries))
	for i, e := range entries {
		ep, s := p.item(i), &out[i]
		if s.Binding, err = d.requiredString(e, ep, "binding"); err != nil {
			return nil, err
		}
		if s.Service, err = d.requiredString(e, ep, "service"); err != nil {
			return nil, err
		}
		if s.Entrypoint, err = d.optionalString(e, ep, "entrypoint"); err != nil {
			return nil, err
		}
		if v, ok := e["props"]; ok {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, d.typeError(ep.key("props"), d.table(), v)
			}
			if s.Props, err = d.jsonObject(m, ep.key("props"), 1); err != nil {
				return nil, err
			}
		}
		if s.Address, err = d.optionalString(e, ep, "address"); err != nil {
			return nil, err
		}
		if s.Address != "" {
			u, err := url.Parse(s.Address)
			if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
				return nil, d.errorf(ep.key("address"), "%q is not an http or https URL", s.Address)
			}
		}
		if err := d.unknownKeys(e, ep, serviceKeys, wranglerServiceKeys); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) d1Databases(obj map[string]any) ([]D1Database, error) {
	p := top.key("d1_databases")
	entries, err := d.tables(obj, p)
	if err != nil || entries == nil {
		return nil, err
	}
	out := make([]D1Database, len(entries))
	for i, e := range entries {
		ep, db := p.item(i), &out[i]
		if db.Binding, err = d.requiredString(e, ep, "binding"); err != nil {
			return nil, err
		}
		if db.DatabaseName, err = d.optionalString(e, ep, "database_name"); err != nil {
			return nil, err
		}
		if db.DatabaseID, err = d.optionalString(e, ep, "database_id"); err != nil {
			return nil, err
		}
		if db.MigrationsDir, err = d.optionalString(e, ep, "migrations_dir"); err != nil {
			return nil, err
		}
		if db.MigrationsTable, err = d.optionalString(e, ep, "migrations_table"); err != nil {
			return nil, err
		}
		if db.MigrationsDir == "" {
			db.MigrationsDir = DefaultMigrationsDir
		}
		if db.MigrationsTable == "" {
			db.MigrationsTable = DefaultMigrationsTable
		}
		if err := d.unknownKeys(e, ep, d1Keys, wranglerD1Keys); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// uniqueBindings rejects a name bound twice, as wrangler does: the worker
// sees all bindings in one env object, so one would hide the other.
func (d *decoder) uniqueBindings(f *File) error {
	seen := make(map[string]*keyPath)
	check := func(name string, p *keyPath) error {
		if first, ok := seen[name]; ok {
			return d.errorf(p, "binding name %q is already used by %s", name, first)
		}
		seen[name] = p
		return nil
	}
	vars := top.key("vars")
	for _, k := range sortedKeys(f.Vars) {
		if err := check(k, vars.key(k)); err != nil {
			return err
		}
	}
	for i, s := range f.Services {
		if err := check(s.Binding, top.key("services").item(i).key("binding")); err != nil {
			return err
		}
	}
	for i, db := range f.D1Databases {
		if err := check(db.Binding, top.key("d1_databases").item(i).key("binding")); err != nil {
			return err
		}
	}
	for i, b := range f.DurableObjects {
		if err := check(b.Name, top.key("durable_objects").key("bindings").item(i).key("name")); err != nil {
			return err
		}
	}
	return nil
}

// tables returns the array of tables at obj[p's last key]: both TOML
// spellings, [[services]] and services = [{...}], decode to the same thing.
// It returns nil if the key is absent.
func (d *decoder) tables(obj map[string]any, p *keyPath) ([]map[string]any, error) {
	v, ok := obj[p.name]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		e := d.typeError(p, "array of "+d.table()+"s", v)
		if _, isTable := v.(map[string]any); isTable && d.format == formatTOML {
			e.Msg += fmt.Sprintf("; write [[%s]], not [%[1]s]", p.name)
		}
		return nil, e
	}
	out := make([]map[string]any, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, d.typeError(p.item(i), d.table(), e)
		}
		out[i] = m
	}
	return out, nil
}

func (d *decoder) optionalString(obj map[string]any, p *keyPath, key string) (string, error) {
	v, ok := obj[key]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", d.typeError(p.key(key), "string", v)
	}
	return s, nil
}

func (d *decoder) requiredString(obj map[string]any, p *keyPath, key string) (string, error) {
	if _, ok := obj[key]; !ok {
		return "", d.errorf(p.key(key), "missing")
	}
	s, err := d.optionalString(obj, p, key)
	if err == nil && s == "" {
		err = d.errorf(p.key(key), "must not be empty")
	}
	return s, err
}

func (d *decoder) stringArray(obj map[string]any, p *keyPath, key string) ([]string, error) {
	v, ok := obj[key]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, d.typeError(p.key(key), "array of strings", v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, d.typeError(p.key(key).item(i), "string", e)
		}
		out[i] = s
	}
	return out, nil
}

// unknownKeys warns about the keys of obj that are not in known, as
// wrangler warns about unexpected fields, with one exception: a key that is
// not one of wrangler's own (in theirs) and is a small edit away from a
// known one is an error that names the key meant. A misspelt section such
// as [[service]] or entrypont would otherwise load as a config without that
// binding or with the default entrypoint, a failure that shows only when
// a call goes where it should not; a warning is easily missed, and
// Registry.Validate, which could turn it into an error, is not always
// called. Keys wrangler itself knows stay warnings, so a config written for
// wrangler still loads.
func (d *decoder) unknownKeys(obj map[string]any, p *keyPath, known, theirs []string) error {
	for _, k := range sortedKeys(obj) {
		if slices.Contains(known, k) {
			continue
		}
		kp := p.key(k)
		line, col := d.position(kp, true)
		e := &Error{File: d.file, Key: kp.String(), Line: line, Column: col, Msg: "unsupported key; ignored"}
		if !slices.Contains(theirs, k) {
			if near := nearest(k, known); near != "" {
				e.Msg = fmt.Sprintf("unknown key; did you mean %q?", near)
				return e
			}
		}
		d.warn(e)
	}
	return nil
}

// nearest returns the key of known that k is most likely a misspelling of:
// one equal but for case, dashes for underscores or one edit (two for
// longer keys), counting a swap of neighbours as one edit. It returns "" if
// none is that close.
func nearest(k string, known []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", 0
	for _, c := range known {
		limit := 1
		if len(c) > 5 {
			limit = 2
		}
		if len(k) > len(c)+limit || len(c) > len(k)+limit {
			continue // too far apart, and not worth measuring
		}
		if dist := editDistance(norm(k), norm(c)); dist <= limit && (best == "" || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}

func (d *decoder) typeError(p *keyPath, want string, got any) *Error {
	msg := fmt.Sprintf("expected %s, got %s", want, d.describe(got))
	switch got.(type) {
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		if want == "string" {
			msg += "; quote it to make it a string"
		}
	}
	return d.errorf(p, "%s", msg)
}

// table is what the format calls a key/value collection.
func (d *decoder) table() string {
	if d.format == formatTOML {
		return "table"
	}
	return "object"
}

// describe names the type of a decoded value in the file's own terms,
// with the value itself when it is short.
func (d *decoder) describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			return "string"
		}
		return "string " + strconv.Quote(v)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case int64:
		return "integer " + strconv.FormatInt(v, 10)
	case float64:
		return "float " + strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		if len(v) > 40 {
			return "number"
		}
		return "number " + v.String()
	case time.Time:
		return "datetime " + v.Format(time.RFC3339Nano)
	case toml.LocalDateTime:
		return "datetime " + v.String()
	case toml.LocalDate:
		return "date " + v.String()
	case toml.LocalTime:
		return "time " + v.String()
	case []any:
		return "array"
	case map[string]any:
		return d.table()
	}
	return fmt.Sprintf("%T", v)
}
