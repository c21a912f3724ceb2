package wrangler

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// DevVarsFile is the file of local secrets that wrangler dev reads beside
// a configuration: NAME=value lines in dotenv syntax.
const DevVarsFile = ".dev.vars"

// loadDevVars reads the .dev.vars file beside f's configuration into
// f.Secrets, if there is one.
func (f *File) loadDevVars() error {
	file := filepath.Join(filepath.Dir(f.Path), DevVarsFile)
	data, err := readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.Secrets, err = ParseDevVars(file, data); err != nil {
		return err
	}
	f.DevVarsPath = file
	return checkSecrets(f, file, data)
}

// ParseDevVars parses data as the .dev.vars file at path, with
// github.com/joho/godotenv: NAME=value lines, # comments, an optional
// export before the name, values in single quotes taken as they are,
// others with ${NAME} (and $NAME) expanded from the lines above, and \n
// escapes in double quotes.
//
// Its values are secrets, so an error names the file and the line, never
// what the line holds.
func ParseDevVars(path string, data []byte) (map[string]string, error) {
	if len(data) > MaxFileSize {
		return nil, tooLarge(path)
	}
	vars, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		return nil, devVarsError(path, data, err)
	}
	for name := range vars {
		if name == "" {
			return nil, &Error{File: path, Line: nameLine(data, ""), Msg: "a line has a value but no name"}
		}
	}
	return vars, nil
}

// godotenv's messages quote the rest of the file; only where it stopped
// is taken from them.
var (
	badNameErr      = regexp.MustCompile(`(?s)^unexpected character ".*" in variable name near (".*")$`)
	unterminatedErr = "unterminated quoted value "
)

// devVarsError describes a parse error of godotenv without its text, which
// holds the file's contents: it finds the line the parser stopped at.
func devVarsError(path string, data []byte, err error) *Error {
	src := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")) // as godotenv reads it
	msg := err.Error()
	e := &Error{File: path, Msg: "not a NAME=value line"}
	if m := badNameErr.FindStringSubmatch(msg); m != nil {
		if rest, uerr := strconv.Unquote(m[1]); uerr == nil && len(rest) <= len(src) {
			e.Line, _ = lineColumn(src, len(src)-len(rest))
		}
		e.Msg = "not a NAME=value line: a name may hold letters, digits, '_' and '.'"
	} else if v, ok := strings.CutPrefix(msg, unterminatedErr); ok && v != "" {
		// The value's quote is the last of its kind in the file: any later
		// one would have closed it.
		if off := lastUnescaped(src, v[0]); off >= 0 {
			e.Line, _ = lineColumn(src, off)
		}
		e.Msg = "the quote that opens the value is never closed"
	}
	return e
}

func lastUnescaped(b []byte, q byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == q && (i == 0 || b[i-1] != '\\') {
			return i
		}
	}
	return -1
}

// nameLine returns the line of the first NAME= (or NAME:) line for name,
// or 0. Only names are looked at.
func nameLine(data []byte, name string) int {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		if n, _, ok := strings.Cut(line, "="); ok && strings.TrimSpace(n) == name {
			return i + 1
		}
		if n, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(n) == name {
			return i + 1
		}
	}
	return 0
}

// checkSecrets rejects a secret named as a service or D1 binding: the
// worker sees one env, so one would hide the other. A secret may share
// the name of a var, which it overrides, as in wrangler dev.
func checkSecrets(f *File, file string, data []byte) error {
	for i, s := range f.Services {
		if _, ok := f.Secrets[s.Binding]; ok {
			return &Error{File: file, Line: nameLine(data, s.Binding),
				Msg: fmt.Sprintf("binding name %q is already used by services[%d].binding of %s", s.Binding, i, f.Path)}
		}
	}
	for i, db := range f.D1Databases {
		if _, ok := f.Secrets[db.Binding]; ok {
			return &Error{File: file, Line: nameLine(data, db.Binding),
				Msg: fmt.Sprintf("binding name %q is already used by d1_databases[%d].binding of %s", db.Binding, i, f.Path)}
		}
	}
	return nil
}
