package postgres

import "context"

// MigrationVersions are the versions of the embedded migrations, ascending.
func (db *DB) MigrationVersions() ([]int64, error) {
	p, sqldb, err := db.migrator()
	if err != nil {
		return nil, err
	}
	defer sqldb.Close()
	var out []int64
	for _, s := range p.ListSources() {
		out = append(out, s.Version)
	}
	return out, nil
}

// MigrateUpTo applies the migrations up to version only, as a findash of
// that schema would have left the database.
func (db *DB) MigrateUpTo(ctx context.Context, version int64) error {
	p, sqldb, err := db.migrator()
	if err != nil {
		return err
	}
	defer sqldb.Close()
	_, err = p.UpTo(ctx, version)
	return err
}
