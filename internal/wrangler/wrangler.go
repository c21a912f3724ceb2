package wrangler

import (
	"bytes"
	"fmt"
	"io"
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

	// Crons are the schedules of [triggers] crons, each checked with
	// [ParseCron]. Those that use Cloudflare's L, W and # are left out,
	// with a warning.
	Crons []string

	// Secrets are the values of the .dev.vars file beside the
	// configuration (see [DevVarsFile]), which Load reads as wrangler dev
	// does; Parse reads no other file. A secret of the same name as a var
	// overrides it. DevVarsPath is the file they came from, if any.
	Secrets     map[string]string
	DevVarsPath string

	DurableObjects []DurableObjectBinding // durable_objects.bindings
	Migrations     []Migration

	// Warnings lists what was ignored, mostly keys this package does not
	// know, each naming the file and the key path, in the order of the
	// file's lines.
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

// MaxFileSize bounds the files Load and Parse read. Real configurations
// are a few kilobytes; the bound keeps a runaway generated file (or one that
// is not a configuration at all) from taking the memory and time of a
// program that only meant to read its bindings.
const MaxFileSize = 8 << 20

// Load reads and parses the wrangler configuration at path, and the
// .dev.vars file beside it if there is one.
// The extension selects the format: .toml, .json or .jsonc.
// If the file cannot be read, the error is the one from [os.Open] or
// [os.File.Read]; a file larger than [MaxFileSize] is an [*Error].
func Load(path string) (*File, error) {
	f, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	file, err := parse(path, f, data)
	if err != nil {
		return nil, err
	}
	if err := file.loadDevVars(); err != nil {
		return nil, err
	}
	return file, nil
}

// readFile reads path, refusing (before reading it all) a file larger than
// MaxFileSize.
func readFile(path string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

func tooLarge(path string) *Error {
	return &Error{File: path, Msg: fmt.Sprintf("file is larger than %d MiB, the most a configuration file may be", MaxFileSize>>20)}
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
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
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
