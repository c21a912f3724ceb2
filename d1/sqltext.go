package d1

import (
	"fmt"
	"strconv"
	"strings"
)

// This file splits SQL text into statements and counts their parameters,
// the two things D1 checks before it runs anything and that SQLite does not
// expose through database/sql. The lexer follows SQLite's tokenizer closely
// enough for both purposes: it knows comments, string literals and quoted
// identifiers (where ';' and '?' mean nothing), and the splitter runs the
// state machine of sqlite3_complete so that the ';' inside a CREATE TRIGGER
// body does not end the statement. It never fails: text it cannot make
// sense of is passed on to SQLite, whose error is then returned.

// maxVariableNumber is SQLite's default SQLITE_MAX_VARIABLE_NUMBER. A ?NNN
// above it is an error that SQLite reports itself.
const maxVariableNumber = 32766

type tokenKind uint8

const (
	tokSpace  tokenKind = iota // white space and comments
	tokSemi                    // ;
	tokWord                    // identifier or keyword
	tokQuoted                  // string literal or quoted identifier
	tokParam                   // ? or ?NNN
	tokNamed                   // :name, @name or $name
	tokOther                   // numbers, operators, anything else
)

type token struct {
	kind       tokenKind
	start, end int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isIDStart and isIDChar match SQLite: bytes >= 0x80 belong to identifiers,
// so UTF-8 names need no decoding here.
func isIDStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

func isIDChar(c byte) bool { return isIDStart(c) || isDigit(c) || c == '$' }

// nextToken returns the token that starts at s[i]; i < len(s).
func nextToken(s string, i int) token {
	c := s[i]
	end := i + 1
	kind := tokOther
	switch {
	case isSpace(c):
		for end < len(s) && isSpace(s[end]) {
			end++
		}
		kind = tokSpace
	case c == '-' && end < len(s) && s[end] == '-':
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			end = i + j + 1
		} else {
			end = len(s)
		}
		kind = tokSpace
	case c == '/' && end < len(s) && s[end] == '*':
		if j := strings.Index(s[i+2:], "*/"); j >= 0 {
			end = i + 2 + j + 2
		} else {
			end = len(s) // SQLite too reads an open comment to the end
		}
		kind = tokSpace
	case c == '\'' || c == '"' || c == '`':
		end = quotedEnd(s, i, c)
		kind = tokQuoted
	case c == '[':
		if j := strings.IndexByte(s[end:], ']'); j >= 0 {
			end += j + 1
		} else {
			end = len(s)
		}
		kind = tokQuoted
	case c == ';':
		kind = tokSemi
	case c == '?':
		for end < len(s) && isDigit(s[end]) {
			end++
		}
		kind = tokParam
	case c == ':' || c == '@' || c == '$':
		for end < len(s) && isIDChar(s[end]) {
			end++
		}
		if end > i+1 {
			kind = tokNamed
		}
	case isIDStart(c):
		for end < len(s) && isIDChar(s[end]) {
			end++
		}
		kind = tokWord
	case isDigit(c):
		// Numbers, including 1e5, 0x1F and 1.5: enough to keep their
		// letters from being read as words.
		for end < len(s) && (isIDChar(s[end]) || s[end] == '.') {
			end++
		}
	}
	return token{kind: kind, start: i, end: end}
}

// quotedEnd returns the end of the quoted token opened by q at s[i]; a
// doubled quote is an escaped one. An unterminated token runs to the end.
func quotedEnd(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] != q {
			continue
		}
		if j+1 < len(s) && s[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(s)
}

// Token classes and transitions of sqlite3_complete, which decides where a
// statement ends. States: 0 invalid, 1 start, 2 normal, 3 explain,
// 4 create, 5 trigger, 6 semicolon inside a trigger, 7 end of trigger.
const (
	tkSemi = iota
	tkWS
	tkOther
	tkExplain
	tkCreate
	tkTemp
	tkTrigger
	tkEnd
)

var completeTrans = [8][8]uint8{
	/* 0 INVALID */ {1, 0, 2, 3, 4, 2, 2, 2},
	/* 1 START   */ {1, 1, 2, 3, 4, 2, 2, 2},
	/* 2 NORMAL  */ {1, 2, 2, 2, 2, 2, 2, 2},
	/* 3 EXPLAIN */ {1, 3, 3, 2, 4, 2, 2, 2},
	/* 4 CREATE  */ {1, 4, 2, 2, 2, 4, 5, 2},
	/* 5 TRIGGER */ {6, 5, 5, 5, 5, 5, 5, 5},
	/* 6 SEMI    */ {6, 6, 5, 5, 5, 5, 5, 7},
	/* 7 END     */ {1, 7, 5, 5, 5, 5, 5, 5},
}

func wordClass(w string) int {
	switch {
	case strings.EqualFold(w, "create"):
		return tkCreate
	case strings.EqualFold(w, "temp"), strings.EqualFold(w, "temporary"):
		return tkTemp
	case strings.EqualFold(w, "trigger"):
		return tkTrigger
	case strings.EqualFold(w, "end"):
		return tkEnd
	case strings.EqualFold(w, "explain"):
		return tkExplain
	}
	return tkOther
}

// sqlStatement is one statement of SQL text.
type sqlStatement struct {
	text     string // from its first token up to, not including, its ';'
	keyword  string // its first word, upper-cased; "" if it starts otherwise
	params   int    // number of parameters SQLite allocates: the highest index
	named    bool   // uses :name, @name or $name
	badIndex bool   // has a ?NNN SQLite rejects; SQLite reports it
}

// splitSQL returns the statements of s, skipping empty ones.
func splitSQL(s string) []sqlStatement {
	var (
		out   []sqlStatement
		cur   sqlStatement
		state uint8
		start = -1 // start of the current statement, -1 before its first token
	)
	flush := func(end int) {
		if start >= 0 {
			cur.text = strings.TrimRightFunc(s[start:end], func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
			out = append(out, cur)
		}
		cur, start = sqlStatement{}, -1
	}
	for i := 0; i < len(s); {
		t := nextToken(s, i)
		i = t.end
		class := tkOther
		switch t.kind {
		case tokSpace:
			class = tkWS
		case tokSemi:
			class = tkSemi
		case tokWord:
			class = wordClass(s[t.start:t.end])
		}
		if start < 0 && t.kind != tokSpace && t.kind != tokSemi {
			start = t.start
			if t.kind == tokWord {
				cur.keyword = strings.ToUpper(s[t.start:t.end])
			}
		}
		switch t.kind {
		case tokParam:
			if t.end-t.start == 1 {
				cur.params++ // a bare ? takes the index after the highest so far
			} else if n, err := strconv.Atoi(s[t.start+1 : t.end]); err != nil || n < 1 || n > maxVariableNumber {
				cur.badIndex = true
			} else {
				cur.params = max(cur.params, n)
			}
		case tokNamed:
			cur.named = true
		}
		state = completeTrans[state][class]
		if t.kind == tokSemi && state == 1 {
			flush(t.start)
		}
	}
	flush(len(s))
	return out
}

// isTransactionKeyword reports whether a statement starting with keyword
// controls transactions.
func isTransactionKeyword(keyword string) bool {
	switch keyword {
	case "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE":
		return true
	}
	return false
}

// check reports what D1 would refuse to run before it reaches SQLite.
func (st *sqlStatement) check() error {
	if isTransactionKeyword(st.keyword) {
		return newError(st.text, ErrTransactionStatement)
	}
	if st.named {
		return newError(st.text, ErrNamedParameter)
	}
	return nil
}

// checkArgs reports a mismatch between n bound values and the parameters.
func (st *sqlStatement) checkArgs(n int) error {
	if st.badIndex || n == st.params {
		return nil
	}
	return newError(st.text, fmt.Errorf("%w: the statement has %d, got %d", ErrParameterCount, st.params, n))
}
