package d1

import (
	"context"
	"io"

	"github.com/seed-29c11ff2/workers"
)

// Importing d1 lets workers.Registry.RegisterConfig open the databases a
// wrangler file declares, as importing a driver lets database/sql open it.
func init() {
	workers.RegisterD1Opener(openForConfig)
}

// openForConfig opens a [[d1_databases]] entry's file and applies its
// migrations, closing the database again if they fail.
func openForConfig(file, migrationsDir string, _ workers.D1DatabaseConfig) (io.Closer, error) {
	db, err := Open(file)
	if err != nil {
		return nil, err
	}
	if migrationsDir != "" {
		if _, err := db.Migrate(context.Background(), migrationsDir); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}
