package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// symbolCommand is `findash symbol add|list|remove`: the symbol registry,
// worked on the database directly, whether a server runs or not. Running
// servers see a change within their registry refresh (30 s); a strict
// server looks again at once when it is posted an unknown symbol.
func symbolCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "symbol",
		Short: "Register, list and remove symbols",
		Long: `Register, list and remove symbols.

findash takes ticks only of registered symbols, and at most --max-symbols of
them (default 10000). By default a symbol's first tick registers it; with
--strict-symbols only "findash symbol add" does. Every command works on the
database directly (the SQLite file in --data-dir, or --database-url), whether
a server is running or not; running servers see the change within 30 s.`,
	}
	cmd.AddCommand(symbolAddCommand(environ, stdout, stderr), symbolListCommand(environ, stdout, stderr), symbolRemoveCommand(environ, stdout, stderr))
	return cmd
}

func symbolAddCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	add := &cobra.Command{
		Use:   "add SYMBOL...",
		Short: "Register symbols (all or none, within --max-symbols)",
		Long: `Register symbols (all or none, within --max-symbols).

A symbol is 1-32 characters of A-Z 0-9 . - _ /. Symbols already registered
are no error. When the new ones would take the registry past --max-symbols,
none is registered.`,
		Example: `  findash symbol add BTC-USD ETH-USD
  findash symbol add --max-symbols 50000 $(cat symbols.txt)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSymbols(cmd, environ, stderr, func(ctx context.Context, r *symbol.Registry) error {
				names := make([]string, len(args))
				for i, a := range args {
					names[i] = strings.TrimSpace(a)
				}
				if err := r.Register(ctx, names, symbol.SourceAdmin); err != nil {
					var re *symbol.RejectError
					if errors.As(err, &re) {
						return fmt.Errorf("%d new symbols would pass the cap of %d registered symbols (raise --max-symbols or remove some): nothing registered", re.Count, re.Max)
					}
					return err
				}
				fmt.Fprintf(stdout, "registered %s\n", strings.Join(names, " "))
				return nil
			})
		},
	}
	symbolFlags(add)
	add.Flags().Int("max-symbols", 10_000, "the cap to register within; the same as the server's --max-symbols")
	return add
}

func symbolListCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var quiet bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registered symbols, with where each came from",
		Long: `List the registered symbols, with where each came from.

SOURCE is admin (findash symbol add), auto (its first tick, with the API key
that posted it), import (it had candles when the registry was introduced) or
simulator.`,
		Example: `  findash symbol list
  findash symbol list --quiet | wc -l`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withSymbols(cmd, environ, stderr, func(ctx context.Context, r *symbol.Registry) error {
				syms, err := r.List(ctx)
				if err != nil {
					return err
				}
				if quiet {
					for _, s := range syms {
						fmt.Fprintln(stdout, s.Name)
					}
					return nil
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SYMBOL\tSOURCE\tAPI KEY\tREGISTERED")
				for _, s := range syms {
					key := "-"
					if s.APIKeyID != 0 {
						key = fmt.Sprint(s.APIKeyID)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Source, key, s.CreatedAt.Format(time.RFC3339))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%d symbols\n", len(syms))
				return nil
			})
		},
	}
	symbolFlags(list)
	list.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the symbols, one a line")
	return list
}

func symbolRemoveCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	remove := &cobra.Command{
		Use:   "remove SYMBOL...",
		Short: "Unregister symbols; their stored ticks and candles stay",
		Long: `Unregister symbols; their stored ticks and candles stay.

A removed symbol frees its place under --max-symbols. Its ticks are then
refused in strict mode, or register it again in auto mode. Its stored ticks
and candles stay until --tick-retention removes them.`,
		Example: `  findash symbol remove FLOOD-0000001 FLOOD-0000002`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSymbols(cmd, environ, stderr, func(ctx context.Context, r *symbol.Registry) error {
				var missing []string
				for _, name := range args {
					err := r.Remove(ctx, name)
					switch {
					case errors.Is(err, market.ErrNotFound):
						missing = append(missing, name)
					case err != nil:
						return err
					default:
						fmt.Fprintf(stdout, "removed %s\n", name)
					}
				}
				if len(missing) > 0 {
					return fmt.Errorf("not registered: %s", strings.Join(missing, " "))
				}
				return nil
			})
		},
	}
	symbolFlags(remove)
	return remove
}

// symbolFlags gives a symbol command the store's flags.
func symbolFlags(cmd *cobra.Command) { config.StoreFlags(cmd.Flags()) }

// withSymbols opens the configured store and runs fn with a registry on it
// (its cap from --max-symbols, the file or FINDASH_MAX_SYMBOLS).
func withSymbols(cmd *cobra.Command, environ []string, stderr io.Writer, fn func(context.Context, *symbol.Registry) error) error {
	cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(cmd.Context(), cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cmd.Context(), symbol.New(st, symbol.Config{Max: cfg.MaxSymbols}, log, nil))
}
