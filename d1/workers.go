package d1

import (
	"context"
	"fmt"
	"io"

	"github.com/seed-29c11ff2/workers/internal/link"
)

// Importing d1 lets workers.Registry.RegisterConfig open the databases a
// wrangler file declares, as importing a driver lets database/sql open it.
func init() {
	link.RegisterD1(configDriver{})
}

type configDriver struct{}

func (configDriver) Open(file string) (io.Closer, error) { return Open(file) }

func (configDriver) Migrate(db io.Closer, dir, table string) error {
	if table != "" && table != MigrationsTable {
		return fmt.Errorf("migrations_table %q: only %q is supported", table, MigrationsTable)
	}
	d, ok := db.(*Database)
	if !ok {
		return fmt.Errorf("d1: cannot migrate a %T", db)
	}
	_, err := d.Migrate(context.Background(), dir)
	return err
}
