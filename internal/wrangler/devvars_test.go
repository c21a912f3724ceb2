package wrangler_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers/internal/wrangler"
)

// writeFiles writes name → content into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

// Load reads .dev.vars beside the config, in dotenv syntax.
func TestLoadDevVars(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"wrangler.toml": "name = \"a\"\n[vars]\nAPI_URL = \"https://api\"\nAPI_KEY = \"placeholder\"\n",
		".dev.vars": "# local secrets\r\n" +
			"API_KEY=sk_live_1\r\n" +
			"export TOKEN = 'a $literal # value'\n" +
			"MULTI=\"line 1\\nline 2\"\n" +
			"EXPANDED=\"${TOKEN}!\"\n" +
			"EMPTY=\n" +
			"TRAILING=x # comment\n",
	})
	f, err := wrangler.Load(filepath.Join(dir, "wrangler.toml"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"API_KEY":  "sk_live_1",
		"TOKEN":    "a $literal # value",
		"MULTI":    "line 1\nline 2",
		"EXPANDED": "a $literal # value!",
		"EMPTY":    "",
		"TRAILING": "x",
	}, f.Secrets)
	assert.Equal(t, filepath.Join(dir, ".dev.vars"), f.DevVarsPath)
	// [vars] are kept as written; the secret overrides at registration.
	assert.Equal(t, "placeholder", f.Vars["API_KEY"])

	// Without the file there are no secrets; Parse never reads one.
	dir = writeFiles(t, map[string]string{"wrangler.toml": "name = \"a\"\n"})
	f, err = wrangler.Load(filepath.Join(dir, "wrangler.toml"))
	require.NoError(t, err)
	assert.Nil(t, f.Secrets)
	assert.Empty(t, f.DevVarsPath)
}

// A bad .dev.vars line is an error naming the file and line, and never
// what the file holds: its values are secrets.
func TestDevVarsErrors(t *testing.T) {
	tests := []struct {
		name, config, devVars string
		line                  int
		msg                   string
	}{
		{"bad line", "name = \"a\"\n", "API_KEY=sk_live_1\n\nPASSWORD hunter2-secret\nB=2\n", 3, "not a NAME=value line"},
		{"bad name", "name = \"a\"\n", "API_KEY=sk_live_1\nMY-KEY=hunter2-secret\n", 2, "not a NAME=value line"},
		{"unterminated quote", "name = \"a\"\n", "API_KEY=sk_live_1\r\nTOKEN=\"hunter2-secret\r\nB='x'\r\n", 2, "never closed"},
		{"no name", "name = \"a\"\n", "API_KEY=sk_live_1\n=hunter2-secret\n", 2, "no name"},
		{"service binding", "name = \"a\"\nservices = [{ binding = \"API_KEY\", service = \"b\" }]\n", "X=1\nAPI_KEY=hunter2-secret\n", 2, `binding name "API_KEY" is already used by services[0].binding`},
		{"d1 binding", "name = \"a\"\n[[d1_databases]]\nbinding = \"DB\"\n", "DB=hunter2-secret\n", 1, `binding name "DB" is already used by d1_databases[0].binding`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"wrangler.toml": tt.config, ".dev.vars": tt.devVars})
			f, err := wrangler.Load(filepath.Join(dir, "wrangler.toml"))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, wrangler.ErrInvalid)
			e, ok := errors.AsType[*wrangler.Error](err)
			require.True(t, ok, "%T", err)
			assert.Equal(t, filepath.Join(dir, ".dev.vars"), e.File)
			assert.Equal(t, tt.line, e.Line)
			assert.Contains(t, e.Msg, tt.msg)
			for _, secret := range []string{"sk_live_1", "hunter2", "secret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// devVarsMessage is every message a .dev.vars syntax error may have: none
// quotes the file.
var devVarsMessage = regexp.MustCompile(`^\.dev\.vars(:\d+)?: (not a NAME=value line(: a name may hold letters, digits, '_' and '\.')?|the quote that opens the value is never closed|a line has a value but no name)$`)

// FuzzParseDevVars checks that no input makes an error show what the file
// holds.
func FuzzParseDevVars(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := wrangler.ParseDevVars(".dev.vars", data)
		if err == nil {
			return
		}
		if !devVarsMessage.MatchString(err.Error()) {
			t.Fatalf("error %q may show the file's contents", err)
		}
	})
}
