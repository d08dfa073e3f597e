package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/observe"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// run is the whole program: it parses args, runs the sub-command and returns
// its error. It never exits the process, so tests can call it.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRoot(environ, stdin, stdout, stderr)
	root.SetArgs(args)
	// No sub-command means serve: findash with no arguments starts stage 1.
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help") {
		root.SetArgs(append([]string{"serve"}, args...))
	}
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree; run executes it, the help test walks it
// to render every command's help, and the reference tests to check that
// docs/reference documents every command and flag.
func newRoot(environ []string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "findash",
		Short: "Real-time market data: ingest, candles, WebSocket streams, REST API and dashboard",
		Long: `Real-time market data: ingest, candles, WebSocket streams, REST API and dashboard.

With no command, findash runs "findash serve": one process with every role,
SQLite and an embedded NATS server in ./findash-data, a simulated tick feed,
the dashboard at http://127.0.0.1:8080.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	serveCmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (all roles by default)",
		Long: `Run the server (all roles by default).

Every flag can also be set by the environment variable FINDASH_<FLAG_IN_UPPER_SNAKE>
(--http-addr: FINDASH_HTTP_ADDR) or by a key of the YAML file named by --config or
FINDASH_CONFIG (http_addr). A flag wins over a variable, a variable over the file;
an unknown key in the file is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), environ)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, stderr, nil)
		},
	}
	config.Flags(serveCmd.Flags())

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "findash %s (%s)\n", version, goVersion())
		},
	}

	root.AddCommand(serveCmd, migrateCommand(environ, stdout, stderr), userCommand(environ, stdout, stderr), replayCommand(environ, stdin, stdout, stderr), versionCmd)
	root.AddCommand(symbolCommand(environ, stdout, stderr))
	root.AddCommand(benchCommand(environ, stdin, stdout, stderr))
	root.AddCommand(importCommand(environ, stdout, stderr))
	root.AddCommand(archiveCommand(environ, stdout, stderr))
	root.AddCommand(planCommand(stdout))
	root.AddCommand(fakeExchangeCommand(stdout))
	return root
}

// loadForTool loads the configuration of a one-shot command (migrate, user):
// its flags are the store's (config.StoreFlags), the file and variables are
// serve's; it logs to stderr.
func loadForTool(fs *pflag.FlagSet, environ []string, stderr io.Writer) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(fs, environ)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, observe.NewLogger(stderr, logFormat(cfg), cfg.LogLevel), nil
}

func logFormat(cfg config.Config) string {
	if cfg.LogFormat != "" {
		return cfg.LogFormat
	}
	if config.IsTerminal(os.Stderr) {
		return "text"
	}
	return "json"
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown"
}
