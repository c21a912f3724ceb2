package dostore

import (
	"context"
	"database/sql"
	"fmt"
)

// Index records which objects of a class have an alarm set, so that the
// alarms set before a restart are found after it without opening every
// object's file. It may name more objects than have an alarm (an entry is
// written before the object's alarm and removed after it): the object's
// own file decides.
type Index struct {
	db *sql.DB
}

// OpenIndex opens (or creates) the index file at path.
func OpenIndex(path string, o Options) (*Index, error) {
	db, err := open(path, o)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS alarms (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Index{db: db}, nil
}

// Set records that object id has an alarm at at (Unix nanoseconds).
func (x *Index) Set(ctx context.Context, id string, at int64) error {
	_, err := x.db.ExecContext(bg(ctx), `INSERT INTO alarms (id, at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, id, at)
	return err
}

// Delete forgets object id.
func (x *Index) Delete(ctx context.Context, id string) error {
	_, err := x.db.ExecContext(bg(ctx), `DELETE FROM alarms WHERE id = ?`, id)
	return err
}

// All returns every recorded object with its alarm time.
func (x *Index) All(ctx context.Context) (map[string]int64, error) {
	rows, err := x.db.QueryContext(bg(ctx), `SELECT id, at FROM alarms`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

// Close closes the index file.
func (x *Index) Close() error { return x.db.Close() }
