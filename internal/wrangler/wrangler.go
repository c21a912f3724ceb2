package wrangler

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// Defaults that wrangler's D1 commands apply when a d1_databases entry
// leaves the key out. They are filled in so that callers need not know them.
const (
	DefaultMigrationsDir   = "migrations"
	DefaultMigrationsTable = "d1_migrations"
)

// A File is a loaded wrangler configuration.
type File struct {
	Path string // the file it came from, as given to Load or Parse

	Name               string // the worker's name; always set
	Main               string // entry module; recorded, never executed
	CompatibilityDate  string // YYYY-MM-DD
	CompatibilityFlags []string

	// Vars maps each binding name to its value: a string, or JSON-like
	// data (bool, int64, float64, string, []any, map[string]any, nil).
	Vars map[string]any

	Services    []Service
	D1Databases []D1Database

	DurableObjects []DurableObjectBinding // durable_objects.bindings
	Migrations     []Migration

	// Warnings lists what was ignored, mostly keys this package does not
	// know, each naming the file and the key path.
	Warnings []string
}

// A Service is a service binding: an entry of the services array.
type Service struct {
	Binding    string         // name in the worker's env; required
	Service    string         // name of the worker bound to; required
	Entrypoint string         // named entrypoint of that worker; optional
	Props      map[string]any // JSON-like props passed to the entrypoint; optional

	// Address is the http or https URL of a worker that runs elsewhere.
	// It is this project's extension, not a wrangler key.
	Address string
}

// A D1Database is a D1 binding: an entry of the d1_databases array.
type D1Database struct {
	Binding         string // name in the worker's env; required
	DatabaseName    string
	DatabaseID      string
	MigrationsDir   string // DefaultMigrationsDir if not given
	MigrationsTable string // DefaultMigrationsTable if not given
}

// Load reads and parses the wrangler configuration at path.
// The extension selects the format: .toml, .json or .jsonc.
// If the file cannot be read, the error is the one from [os.ReadFile].
func Load(path string) (*File, error) {
	f, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, f, data)
}

// Parse parses data as the wrangler configuration at path.
// The path selects the format, as for [Load], and names the file in
// errors and warnings; it is not opened.
func Parse(path string, data []byte) (*File, error) {
	f, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	return parse(path, f, data)
}

type format int

const (
	formatTOML format = iota
	formatJSON        // also JSONC: wrangler accepts comments in both
)

func formatOf(path string) (format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return formatTOML, nil
	case ".json", ".jsonc":
		return formatJSON, nil
	}
	return 0, &Error{File: path, Msg: "unsupported file type; want .toml, .json or .jsonc"}
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16BE = []byte{0xFE, 0xFF}
	bomUTF16LE = []byte{0xFF, 0xFE}
)

func parse(path string, f format, data []byte) (*File, error) {
	// Editors on Windows like to prepend a byte order mark. A UTF-8 one is
	// harmless and dropped, as wrangler does; UTF-16 would only produce a
	// confusing syntax error further on.
	data = bytes.TrimPrefix(data, bomUTF8)
	if bytes.HasPrefix(data, bomUTF16BE) || bytes.HasPrefix(data, bomUTF16LE) {
		return nil, &Error{File: path, Line: 1, Column: 1, Msg: "file is UTF-16 encoded; save it as UTF-8"}
	}

	d := &decoder{file: path, format: f}
	var root any
	var err error
	if f == formatTOML {
		root, err = d.decodeTOML(data)
	} else {
		root, err = d.decodeJSON(data)
	}
	if err != nil {
		return nil, err
	}
	return d.build(root)
}
