package dostore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a", "b", true},
		{"user:", "user;", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"\xff", "", false},
		{"\xff\xff", "", false},
		{"\x00", "\x01", true},
	} {
		got, ok := prefixEnd(tc.in)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// Keys sort by their bytes, whatever they hold, and prefixes ending in
// 0xff bytes still bound the range.
func TestListByteOrder(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "o.sqlite"), Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	keys := []string{"a", "a\xff", "a\xff\x00", "a\xff\xff", "b", "\xff", "\xff\xff", "é", "Z", ""}
	for _, k := range keys {
		require.NoError(t, s.Put(ctx, k, []byte{1}, ""))
	}
	list := func(r Range) []string {
		rows, err := s.List(ctx, r)
		require.NoError(t, err)
		out := []string{}
		for _, row := range rows {
			out = append(out, row.Key)
		}
		return out
	}
	assert.Equal(t, []string{"", "Z", "a", "a\xff", "a\xff\x00", "a\xff\xff", "b", "é", "\xff", "\xff\xff"}, list(Range{}))
	assert.Equal(t, []string{"a\xff", "a\xff\x00", "a\xff\xff"}, list(Range{Prefix: "a\xff"}))
	assert.Equal(t, []string{"\xff", "\xff\xff"}, list(Range{Prefix: "\xff"}))
	assert.Equal(t, []string{"\xff\xff"}, list(Range{Prefix: "\xff\xff"}))
}

func TestHints(t *testing.T) {
	type local struct{ A int }
	assert.Equal(t, "int", hintOf(typeOf(1)))
	assert.Equal(t, "[]string", hintOf(typeOf([]string{})))
	assert.Equal(t, "*github.com/seed-29c11ff2/workers/internal/dostore.local", hintOf(typeOf(&local{})))
	assert.Equal(t, "map[string][]github.com/seed-29c11ff2/workers/internal/dostore.local", hintOf(typeOf(map[string][]local{})))
}
