package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/config"
)

// migrateCommand is `findash migrate`: the migrations up, or with
// --down-to back down to a version (decision 0028).
func migrateCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var downTo int64
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Long: `Apply database migrations and exit.

With --down-to N it undoes the migrations above version N instead, newest
first, with each migration's own Down (goose), so that the findash release
whose newest migration is N can run on the database: roll back the image
after this. Run it with the findash that applied the migrations (an older
one lacks their Downs), with every findash on the database stopped: on
SQLite it refuses while a server holds the data dir; on PostgreSQL while
connections named findash (application_name: servers, other findash
commands) are open on the database; one still running would fail on what
the Downs drop. A Down can drop data (N = 0 drops every table of
findash's migrations; the job queue's, River's own, stay): back up first.
A target below 0, above the database's version or that is no migration of
this store is refused, and nothing is undone.`,
		Example: `  findash migrate
  findash migrate --down-to 8 --data-dir /var/lib/findash`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("down-to") {
				from, err := migrateDown(cmd.Context(), cfg, log, downTo)
				if err != nil {
					return err
				}
				if from == downTo {
					fmt.Fprintf(stdout, "database already at version %d\n", downTo)
				} else {
					fmt.Fprintf(stdout, "migrated down from version %d to %d\n", from, downTo)
				}
				return nil
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintln(stdout, "migrations applied")
			return nil
		},
	}
	cmd.Flags().Int64Var(&downTo, "down-to", 0, "undo the migrations above this version instead of applying any (0: every one); stop every findash on the database first")
	config.StoreFlags(cmd.Flags())
	return cmd
}
