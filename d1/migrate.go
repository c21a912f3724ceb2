package d1

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// MigrationsTable is the table in which applied migrations are recorded,
// the one wrangler uses by default.
const MigrationsTable = "d1_migrations"

// createMigrationsTable is wrangler's definition of the table.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + ` (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT UNIQUE,
	applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`

// Migration is a migration file and whether it has been applied.
type Migration struct {
	// Name is the file name, such as 0001_create_users.sql, as recorded
	// in the migrations table.
	Name string
	// Applied reports whether the migration is recorded as applied.
	Applied bool
	// AppliedAt is when it was applied, in UTC; zero if it was not.
	AppliedAt time.Time
}

// Migrate applies the migrations in dir that have not been applied yet,
// like `wrangler d1 migrations apply`, and returns the names of those it
// applied, in order.
//
// A migration is a file whose name ends in .sql; they are applied in
// lexical order of their names, which is the order of wrangler's
// 0001_name.sql numbering. Each one is recorded by name in the
// d1_migrations table ([MigrationsTable]) and is never applied again.
//
// Each migration runs in a transaction of its own, together with its
// record. If one fails, Migrate stops: the database is left as it was
// before that file, the migrations before it stay applied and are
// returned, and the error is a *[MigrationError] naming the file. Since
// the file runs inside a transaction it must not contain BEGIN or COMMIT.
func (d *Database) Migrate(ctx context.Context, dir string) (applied []string, err error) {
	return d.MigrateFS(ctx, os.DirFS(dir))
}

// MigrateFS is [Database.Migrate] for the migrations at the root of fsys,
// such as an embed.FS.
func (d *Database) MigrateFS(ctx context.Context, fsys fs.FS) (applied []string, err error) {
	files, err := migrationFiles(fsys)
	if err != nil {
		return nil, err
	}
	err = d.withConn(ctx, func(c *conn) error {
		if err := c.exec(ctx, createMigrationsTable); err != nil {
			return newError(createMigrationsTable, err)
		}
		done, err := c.appliedMigrations(ctx)
		if err != nil {
			return err
		}
		for _, name := range files {
			if _, ok := done[name]; ok {
				continue
			}
			ok, err := c.applyMigration(ctx, fsys, name)
			if err != nil {
				return &MigrationError{Name: name, Err: err}
			}
			if ok {
				applied = append(applied, name)
			}
		}
		return nil
	})
	return applied, err
}

// applyMigration applies one file and records it, in one transaction. It
// reports false if another process applied the file first.
func (c *conn) applyMigration(ctx context.Context, fsys fs.FS, name string) (bool, error) {
	script, err := fs.ReadFile(fsys, name)
	if err != nil {
		return false, err
	}
	sts := splitSQL(string(script))
	for i := range sts {
		if err := sts[i].check(); err != nil {
			return false, &StatementError{Index: i, Err: err}
		}
	}
	if err := c.begin(ctx); err != nil {
		return false, newError("BEGIN IMMEDIATE", err)
	}
	// Checked again under the write lock: another process may have
	// applied it since the list was read.
	record := &sqlStatement{text: "SELECT 1 FROM " + MigrationsTable + " WHERE name = ?", params: 1}
	args := []driver.NamedValue{{Ordinal: 1, Value: name}}
	out, err := c.run(ctx, record, args, 1, true)
	if err != nil {
		return false, c.rollback(err)
	}
	if len(out.rows) > 0 {
		return false, c.rollback(nil)
	}
	for i := range sts {
		if _, err := c.run(ctx, &sts[i], nil, 0, false); err != nil {
			return false, c.rollback(&StatementError{Index: i, Err: err})
		}
	}
	record.text = "INSERT INTO " + MigrationsTable + " (name) VALUES (?)"
	if _, err := c.run(ctx, record, args, 0, true); err != nil {
		return false, c.rollback(err)
	}
	if err := c.commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// ListMigrations returns the migrations in dir and those recorded in the
// database, sorted by name, telling which are applied, like
// `wrangler d1 migrations list` (which shows the pending ones). It
// changes nothing.
func (d *Database) ListMigrations(ctx context.Context, dir string) ([]Migration, error) {
	return d.ListMigrationsFS(ctx, os.DirFS(dir))
}

// ListMigrationsFS is [Database.ListMigrations] for the migrations at the
// root of fsys.
func (d *Database) ListMigrationsFS(ctx context.Context, fsys fs.FS) ([]Migration, error) {
	files, err := migrationFiles(fsys)
	if err != nil {
		return nil, err
	}
	var done map[string]time.Time
	err = d.withConn(ctx, func(c *conn) error {
		exists := &sqlStatement{text: "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", params: 1}
		out, err := c.run(ctx, exists, []driver.NamedValue{{Ordinal: 1, Value: MigrationsTable}}, 1, true)
		if err != nil || len(out.rows) == 0 {
			return err
		}
		done, err = c.appliedMigrations(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	list := make([]Migration, 0, len(files))
	for _, name := range files {
		at, ok := done[name]
		list = append(list, Migration{Name: name, Applied: ok, AppliedAt: at})
		delete(done, name)
	}
	for name, at := range done { // recorded, but the file is gone
		list = append(list, Migration{Name: name, Applied: true, AppliedAt: at})
	}
	slices.SortFunc(list, func(a, b Migration) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// appliedMigrations returns the recorded migrations and when they were
// applied.
func (c *conn) appliedMigrations(ctx context.Context) (map[string]time.Time, error) {
	st := &sqlStatement{text: "SELECT name, applied_at FROM " + MigrationsTable}
	out, err := c.run(ctx, st, nil, 0, true)
	if err != nil {
		return nil, err
	}
	done := make(map[string]time.Time, len(out.rows))
	for _, row := range out.rows {
		name, _ := row[0].(string)
		at, _ := toTime(row[1])
		done[name] = at
	}
	return done, nil
}

// migrationFiles returns the names of the .sql files at the root of fsys
// in lexical order.
func migrationFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("d1: migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && path.Ext(e.Name()) == ".sql" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // ReadDir sorts already; the order is the contract
	return names, nil
}
