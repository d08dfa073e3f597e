package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/objstore"
)

// openArchive opens the tick archive --archive names: Parquet files in the
// data dir's archive/ (disk), in the S3 bucket under ticks/ (s3), or none
// (off: nil). reg receives its metrics (nil: none).
func openArchive(ctx context.Context, cfg config.Config, src archive.Source, log *slog.Logger, reg prometheus.Registerer) (*archive.Archiver, error) {
	var objs archive.Objects
	switch cfg.Archive {
	case "off":
		return nil, nil
	case "s3":
		s, err := objstore.NewS3(objstore.S3Config{Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket,
			AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Region: cfg.S3Region}, log)
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.EnsureBucket(bctx); err != nil {
			// Retention then keeps the ticks until the bucket is back.
			log.Warn("object storage unavailable at start; ticks stay in the database until the archive can be written", "err", err)
		}
		objs = s
	default: // disk
		l, err := objstore.NewLocal(filepath.Join(cfg.DataDir, "archive"))
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		objs = l
	}
	return archive.New(objs, src, archive.Config{}, log, reg), nil
}

// archivedTicks is the archive as the API reads it.
type archivedTicks struct{ a *archive.Archiver }

// ArchivedTicks reads one bounded page (archive.ReadPage, default limits).
func (t archivedTicks) ArchivedTicks(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) (api.ArchivedPage, error) {
	p, err := t.a.ReadPage(ctx, symbol, afterTS, afterSeq, to, limit, archive.PageLimits{})
	if err != nil {
		return api.ArchivedPage{}, err
	}
	return api.ArchivedPage{Ticks: p.Ticks, Cut: p.Cut, PosTS: p.PosTS, PosSeq: p.PosSeq}, nil
}

// archiveCommand is `findash archive`: archive now what the retention job
// would archive, and print it.
func archiveCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var dryRun bool
	var before string
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Write ticks past the retention to the Parquet archive now",
		Long: `Write ticks past the retention to the Parquet archive now.

The worker's tick_retention job does this before it deletes ticks; this
command does it at once, for the whole UTC days before --before (default: now
minus --tick-retention), into the archive --archive names (disk: the data
dir's archive/, s3: the --s3-bucket under ticks/). It deletes nothing. Each
(day, symbol) already archived is rewritten with the ticks stored since, to
the same objects when nothing changed. Do not run it while a worker's
retention job runs: both rewrite the day's manifest.`,
		Example: `  findash archive --dry-run
  findash archive --before 2026-11-01
  findash archive --before 720h --archive s3 --s3-endpoint https://s3.example.com --s3-bucket findash`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
			if err != nil {
				return err
			}
			if cfg.Archive == "off" {
				return fmt.Errorf("the archive is off (--archive off): set --archive disk or s3")
			}
			cut := time.Now().Add(-cfg.TickRetention)
			if before != "" {
				if cut, err = parseBefore(before, time.Now()); err != nil {
					return err
				}
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := openArchive(cmd.Context(), cfg, st, log, nil)
			if err != nil {
				return err
			}
			res, err := a.ArchiveBefore(cmd.Context(), cut.UnixMilli(), dryRun)
			printArchived(stdout, res, dryRun)
			if err != nil {
				return fmt.Errorf("archived up to %s, then: %w", time.UnixMilli(res.Until).UTC().Format(time.DateOnly), err)
			}
			return nil
		},
	}
	config.StoreFlags(cmd.Flags())
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	config.Flags(all)
	for _, name := range []string{"archive", "tick-retention", "s3-endpoint", "s3-bucket", "s3-region"} {
		cmd.Flags().AddFlag(all.Lookup(name))
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be written, write nothing")
	cmd.Flags().StringVar(&before, "before", "", "archive the whole UTC days before this date (YYYY-MM-DD) or this long ago (720h) [--tick-retention ago]")
	return cmd
}

// parseBefore reads --before: a date (its midnight, UTC) or a duration ago.
func parseBefore(s string, now time.Time) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want a date (2026-11-01) or a duration ago (720h)", s)
}

func printArchived(w io.Writer, res archive.Result, dryRun bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verb := "wrote"
	if dryRun {
		verb = "would write"
	}
	var rows, size int64
	for _, e := range res.Written {
		fmt.Fprintf(tw, "%s\t%s\t%d rows\t%d bytes\t%d files\t%s\n", e.Date, e.Symbol, e.Rows, e.Bytes, len(e.Files), e.Files[0].Key)
		rows += e.Rows
		size += e.Bytes
	}
	tw.Flush()
	fmt.Fprintf(w, "%s %d entries, %d rows, %d bytes; every tick before %s is archived\n", verb, len(res.Written), rows, size, time.UnixMilli(res.Until).UTC().Format(time.DateOnly))
}
