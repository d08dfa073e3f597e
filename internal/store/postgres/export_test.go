package postgres

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
