// Package wrangler loads Cloudflare Workers configuration files,
// wrangler.toml, wrangler.json and wrangler.jsonc, into plain Go values.
//
// It reads the part of wrangler's configuration that this project runs:
// the worker's name, its main module (recorded, never executed), the
// compatibility date and flags, vars, service bindings and D1 databases.
// A config written for wrangler should load unchanged, so every other key
// (kv_namespaces, routes, [env.production], ...) is not an error: it becomes
// one entry in [File.Warnings], much as wrangler warns about
// "unexpected fields".
//
// The format follows the file name's extension. TOML is parsed by the
// parser of github.com/pelletier/go-toml/v2, which reports the line and
// column of every syntax error; the tree is built here, in time linear in
// the size of the file (see toml.go for why not with toml.Unmarshal). JSON
// and JSONC are read the way wrangler reads them: both may hold comments
// and trailing commas, which github.com/tailscale/hujson blanks out
// (keeping byte offsets) before encoding/json decodes the document. Files
// larger than [MaxFileSize] are refused.
//
// The same configuration yields the same [File] whichever syntax it is
// written in. Values that reach Go as free-form data, vars and service
// props, are normalized to JSON-like types: string, bool, int64 for integers,
// float64 for other numbers, []any, map[string]any and, from JSON only, nil.
// TOML dates and times, which JSON lacks, become strings in their RFC 3339
// form. NaN and infinities are rejected, since JSON cannot carry them to a
// worker.
//
// Every problem with a file is reported as an [*Error] that names the file
// and either the key path (services[1].binding) or, for syntax errors, the
// line and column; errors about keys have a position too.
// Each such error wraps [ErrInvalid]. Parse stops at the first problem,
// looking at keys in a fixed order so that a file always gets the same
// error.
//
// One key is this project's extension rather than wrangler's: a service
// binding may carry an address, the http or https URL of a worker that runs
// elsewhere. wrangler itself would warn about it and ignore it.
package wrangler
