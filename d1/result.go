package d1

import "time"

// Result is the result of running a [Statement], D1's D1Result.
type Result struct {
	// Results holds one map per row, from column name to value. A value
	// is an int64, float64, string, []byte or nil, like the JSON values D1
	// returns (with BLOBs as []byte). When two columns share a name the
	// later one wins, as in D1; [Result.Columns] and [Statement.Raw] keep
	// both. It is empty, not nil, for statements that return no rows.
	Results []map[string]any
	// Success is true for a statement that ran; failures are returned as
	// errors instead of results.
	Success bool
	// Meta describes the execution.
	Meta Meta

	columns []string
}

// Columns returns the names of the result columns, in order.
func (r *Result) Columns() []string {
	if r == nil {
		return nil
	}
	return r.columns
}

// Meta is D1's meta object: what running a statement did.
type Meta struct {
	// Duration is the time SQLite took to run the statement and read its
	// rows.
	Duration time.Duration
	// Changes is the number of rows inserted, updated or deleted,
	// including those changed by triggers and foreign key actions.
	Changes int64
	// LastRowID is the rowid of the last row the connection inserted
	// (SQLite's last_insert_rowid), as D1 reports it.
	LastRowID int64
	// ChangedDB reports whether the statement changed the database: its
	// rows, its last insert rowid or its size.
	ChangedDB bool
	// SizeAfter is the size of the database in bytes after the statement.
	SizeAfter int64
	// RowsRead is the number of rows the statement returned. D1 bills the
	// rows SQLite scanned, which can be more (a count(*) reads every row);
	// SQLite does not expose that number through this driver.
	RowsRead int64
	// RowsWritten is the number of rows changed, Changes. D1 also counts
	// index entries, which SQLite does not expose through this driver.
	RowsWritten int64
}

// result turns the output of a statement into D1's result shape.
func (o *output) result() *Result {
	res := &Result{
		Results: make([]map[string]any, len(o.rows)),
		Success: true,
		Meta:    o.meta,
		columns: o.columns,
	}
	for i, row := range o.rows {
		res.Results[i] = rowMap(o.columns, row)
	}
	return res
}

func rowMap(columns []string, row []any) map[string]any {
	m := make(map[string]any, len(columns))
	for j, c := range columns {
		m[c] = row[j]
	}
	return m
}
