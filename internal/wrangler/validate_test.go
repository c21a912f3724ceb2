package wrangler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every key of wrangler's own that is not read is a warning, never taken
// for a misspelling of one that is.
func TestWranglerKeysWarn(t *testing.T) {
	for _, k := range wranglerTopLevelKeys {
		f, err := Parse("w.toml", fmt.Appendf(nil, "name = \"a\"\n%s = 1\n", k))
		require.NoError(t, err, k)
		assert.Equal(t, []string{"w.toml:2:1: " + k + ": unsupported key; ignored"}, f.Warnings)
	}
	for _, k := range wranglerServiceKeys {
		f, err := Parse("w.toml", fmt.Appendf(nil, "name = \"a\"\n[[services]]\nbinding = \"B\"\nservice = \"b\"\n%s = 1\n", k))
		require.NoError(t, err, k)
		assert.Len(t, f.Warnings, 1, k)
	}
	for _, k := range wranglerD1Keys {
		f, err := Parse("w.toml", fmt.Appendf(nil, "name = \"a\"\n[[d1_databases]]\nbinding = \"DB\"\n%s = 1\n", k))
		require.NoError(t, err, k)
		assert.Len(t, f.Warnings, 1, k)
	}
}

func TestNearest(t *testing.T) {
	known := []string{"name", "main", "vars", "services", "d1_databases", "compatibility_date"}
	tests := []struct{ k, want string }{
		{"service", "services"},
		{"Services", "services"},
		{"servcies", "services"},
		{"var", "vars"},
		{"nmae", "name"},
		{"mian", "main"},
		{"compatibility-date", "compatibility_date"},
		{"compatability_date", "compatibility_date"},
		{"d1-databases", "d1_databases"},
		{"kv", ""},
		{"nam3s", ""},
		{"workers_dev", ""},
		{"", ""},
		{strings.Repeat("x", 50), ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, nearest(tt.k, known), tt.k)
	}
}
