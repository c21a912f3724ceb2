package d1

import (
	"context"
	"fmt"
	"io"

	"github.com/seed-29c11ff2/workers"
)

// Importing d1 lets workers.Registry.RegisterConfig open the databases a
// wrangler file declares, as importing a driver lets database/sql open it.
func init() {
	workers.RegisterD1Driver(configDriver{})
}

type configDriver struct{}

func (configDriver) Open(file string) (io.Closer, error) { return Open(file) }

func (configDriver) Migrate(db io.Closer, dir string, cfg workers.D1DatabaseConfig) error {
	if cfg.MigrationsTable != "" && cfg.MigrationsTable != MigrationsTable {
		return fmt.Errorf("migrations_table %q: only %q is supported", cfg.MigrationsTable, MigrationsTable)
	}
	d, ok := db.(*Database)
	if !ok {
		return fmt.Errorf("d1: cannot migrate a %T", db)
	}
	_, err := d.Migrate(context.Background(), dir)
	return err
}
