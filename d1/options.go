package d1

import (
	"fmt"
	"runtime"
	"time"
)

// An Option configures [Open].
type Option interface {
	applyOption(*options)
}

type options struct {
	busyTimeout  time.Duration
	maxOpenConns int
	foreignKeys  bool
}

func defaultOptions() options {
	return options{
		busyTimeout: 5 * time.Second,
		// Enough connections for readers to run in parallel under WAL;
		// writers queue on SQLite's write lock either way.
		maxOpenConns: max(4, runtime.GOMAXPROCS(0)),
		foreignKeys:  true,
	}
}

func (o *options) validate() error {
	if o.busyTimeout < 0 {
		return fmt.Errorf("d1: negative busy timeout %v", o.busyTimeout)
	}
	if o.maxOpenConns < 1 {
		return fmt.Errorf("d1: max open connections %d, want at least 1", o.maxOpenConns)
	}
	return nil
}

type optionFunc func(*options)

func (f optionFunc) applyOption(o *options) { f(o) }

// WithBusyTimeout sets how long a statement waits for another connection,
// or another process, to release the database lock before it fails with
// SQLITE_BUSY. The default is 5 seconds; 0 fails at once.
func WithBusyTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.busyTimeout = d })
}

// WithMaxOpenConns sets the size of the connection pool, by default the
// larger of 4 and GOMAXPROCS. Reads run in parallel up to that number;
// writes are serialised by SQLite whatever it is. An in-memory database
// always uses a single connection.
func WithMaxOpenConns(n int) Option {
	return optionFunc(func(o *options) { o.maxOpenConns = n })
}

// WithForeignKeys turns enforcement of foreign key constraints on or off.
// It is on by default, as in D1.
func WithForeignKeys(on bool) Option {
	return optionFunc(func(o *options) { o.foreignKeys = on })
}
