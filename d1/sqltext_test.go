package d1_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/seed-29c11ff2/workers/d1"
)

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name   string
		sql    string
		texts  []string
		params []int
	}{
		{name: "empty", sql: ""},
		{name: "space and semicolons", sql: " ;\n; -- c\n /* c */"},
		{name: "one", sql: "SELECT 1", texts: []string{"SELECT 1"}, params: []int{0}},
		{name: "trailing semicolon", sql: "  SELECT 1 ;  ", texts: []string{"SELECT 1"}, params: []int{0}},
		{name: "two", sql: "SELECT ?;SELECT ?, ?", texts: []string{"SELECT ?", "SELECT ?, ?"}, params: []int{1, 2}},
		{name: "leading comment dropped", sql: "-- c\nSELECT 1", texts: []string{"SELECT 1"}, params: []int{0}},
		{name: "semicolon in string", sql: "SELECT ';?'", texts: []string{"SELECT ';?'"}, params: []int{0}},
		{name: "escaped quote", sql: "SELECT 'it''s;', ?", texts: []string{"SELECT 'it''s;', ?"}, params: []int{1}},
		{name: "quoted identifiers", sql: "SELECT \"a;?\", `b;?`, [c;?]", texts: []string{"SELECT \"a;?\", `b;?`, [c;?]"}, params: []int{0}},
		{name: "comments", sql: "SELECT 1 /* ; ? */ -- ; ?\n, ?", texts: []string{"SELECT 1 /* ; ? */ -- ; ?\n, ?"}, params: []int{1}},
		{name: "numbered", sql: "SELECT ?2, ?, ?1", texts: []string{"SELECT ?2, ?, ?1"}, params: []int{3}},
		{name: "numbered reuse", sql: "SELECT ?1, ?1", texts: []string{"SELECT ?1, ?1"}, params: []int{1}},
		{name: "named", sql: "SELECT :a", texts: []string{"SELECT :a"}, params: []int{-1}},
		{name: "bad index", sql: "SELECT ?0", texts: []string{"SELECT ?0"}, params: []int{-1}},
		{name: "huge index", sql: "SELECT ?99999999999999999999", texts: []string{"SELECT ?99999999999999999999"}, params: []int{-1}},
		{name: "dollar inside identifier", sql: "SELECT a$b FROM t", texts: []string{"SELECT a$b FROM t"}, params: []int{0}},
		{name: "json path", sql: "SELECT json_extract(?, '$.a')", texts: []string{"SELECT json_extract(?, '$.a')"}, params: []int{1}},
		{
			name:   "trigger",
			sql:    "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET a = CASE WHEN 1 THEN 2 END; DELETE FROM y; END; SELECT 1",
			texts:  []string{"CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET a = CASE WHEN 1 THEN 2 END; DELETE FROM y; END", "SELECT 1"},
			params: []int{0, 0},
		},
		{
			name:   "temp trigger",
			sql:    "create temp trigger t after delete on x begin select 1; end;",
			texts:  []string{"create temp trigger t after delete on x begin select 1; end"},
			params: []int{0},
		},
		{name: "unterminated string", sql: "SELECT 'abc; SELECT 2", texts: []string{"SELECT 'abc; SELECT 2"}, params: []int{0}},
		{name: "unterminated comment", sql: "SELECT 1 /* ; SELECT 2", texts: []string{"SELECT 1 /* ; SELECT 2"}, params: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts, params := d1.SplitSQL(tt.sql)
			assert.Equal(t, tt.texts, texts)
			assert.Equal(t, tt.params, params)
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{name: "int", in: int64(1), want: int64(1)},
		{name: "nil blob is an empty BLOB", in: []byte(nil), want: []byte{}},
		{name: "NULL", in: nil, want: nil},
		// Should the driver parse date columns after all, the text comes
		// back in SQLite's own format.
		{name: "time", in: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), want: "2024-01-02 03:04:05"},
		{name: "time with fraction", in: time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC), want: "2024-01-02 03:04:05.5"},
		{name: "time with offset", in: time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), want: "2024-01-02 03:04:05+01:00"},
		{name: "bool", in: true, want: int64(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, d1.Normalize(tt.in))
		})
	}
}
