package wrangler

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every [*Error]: the file is not a configuration
// this package can use.
var ErrInvalid = errors.New("invalid wrangler configuration")

// An Error describes one problem with a configuration file.
//
// Its message has the form
//
//	file:line:column: key: msg
//
// where the position is present for syntax errors and for most other
// errors too, and the key for errors about a particular key.
type Error struct {
	File   string // as given to Load or Parse
	Key    string // key path such as services[1].binding; empty if none applies
	Line   int    // 1-based line; 0 if unknown
	Column int    // 1-based byte column within Line; 0 if unknown
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns [ErrInvalid].
func (e *Error) Unwrap() error { return ErrInvalid }
