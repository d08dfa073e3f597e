package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/market"
)

// errUserExists is what `user create` says when the email is taken: the
// operator wants that plainly, not the store's conflict wrapped three times.
var errUserExists = errors.New("user exists")

// userCommand is `findash user create` and `findash user key`: accounts and
// API keys made on the database directly, whether a server runs or not.
func userCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	user := &cobra.Command{
		Use:   "user",
		Short: "Create users and issue their API keys",
		Long: `Create users and issue their API keys.

Both commands work on the database directly (the SQLite file in --data-dir,
or --database-url), whether a server is running or not.`,
	}
	user.AddCommand(userCreateCommand(environ, stdout, stderr), userKeyCommand(environ, stdout, stderr))
	return user
}

func userCreateCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var email, keyName, keySymbols string
	var withKey, passwordStdin, quiet bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user (and print an API key with --api-key)",
		Long: `Create a user (and print an API key with --api-key).

Without --password-stdin the user cannot log in to the dashboard, only use
API keys. An email already registered fails with "user exists"; issue
another key for that user with "findash user key".`,
		Example: `  findash user create --email me@example.com --api-key
  KEY=$(findash user create --email me@example.com --api-key --quiet)
  printf '%s\n' "$PASSWORD" | findash user create --email me@example.com --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quiet && !withKey {
				return errors.New("--quiet prints only the API key: use it with --api-key")
			}
			var password string
			if passwordStdin {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1024))
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				password = trimNewline(string(b))
			}
			return withUsers(cmd, environ, stderr, func(ctx context.Context, svc *auth.Service, _ auth.Store) error {
				u, err := svc.CreateUser(ctx, email, password)
				if errors.Is(err, market.ErrConflict) {
					e, _ := auth.NormalizeEmail(email) // it was valid: the store compared it
					return fmt.Errorf("%w: %s (issue another API key with: findash user key --email %s)", errUserExists, e, e)
				}
				if err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(stdout, "created user %d <%s>\n", u.ID, u.Email)
				}
				if withKey {
					return printKey(ctx, svc, u, keyName, keySymbols, quiet, stdout)
				}
				return nil
			})
		},
	}
	config.StoreFlags(create.Flags())
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address (required)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password (min 10 chars) from stdin; without it the user cannot log in, only use API keys")
	create.Flags().BoolVar(&withKey, "api-key", false, "also create an API key and print it")
	create.Flags().StringVar(&keyName, "api-key-name", "cli", "name of the API key")
	create.Flags().StringVar(&keySymbols, "api-key-symbols", "", "comma-separated symbol patterns the API key may post ticks for, e.g. 'BTC-*' [every symbol]")
	create.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the API key (with --api-key), for KEY=$(…)")
	create.MarkFlagRequired("email")
	return create
}

func userKeyCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	var email, keyName, symbols string
	var quiet bool
	key := &cobra.Command{
		Use:   "key",
		Short: "Issue another API key for an existing user",
		Long: `Issue another API key for an existing user.

The key is printed once; only its hash is stored. Existing keys keep working
(a logged-in user lists and revokes them with GET and DELETE /api/v1/apikeys).

With --symbols the key may post ticks only for the symbols matching one of
the comma-separated patterns ('*' stands for any run of characters); a tick
of another symbol is refused with 403 symbol_forbidden.`,
		Example: `  KEY=$(findash user key --email me@example.com --name laptop --quiet)
  findash user key --email feed@example.com --name btc-feed --symbols 'BTC-*,ETH-USD'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUsers(cmd, environ, stderr, func(ctx context.Context, svc *auth.Service, st auth.Store) error {
				e, err := auth.NormalizeEmail(email)
				if err != nil {
					return err
				}
				u, err := st.UserByEmail(ctx, e)
				if errors.Is(err, market.ErrNotFound) {
					return fmt.Errorf("no user %s (create one with: findash user create --email %s --api-key)", e, e)
				}
				if err != nil {
					return fmt.Errorf("find user %s: %w", e, err)
				}
				return printKey(ctx, svc, u, keyName, symbols, quiet, stdout)
			})
		},
	}
	config.StoreFlags(key.Flags())
	key.Flags().StringVar(&email, "email", "", "the user's e-mail address (required)")
	key.Flags().StringVar(&keyName, "name", "cli", "name of the API key")
	key.Flags().StringVar(&symbols, "symbols", "", "comma-separated symbol patterns the key may post ticks for, e.g. 'BTC-*,ETH-USD' [every symbol]")
	key.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the API key, for KEY=$(…)")
	key.MarkFlagRequired("email")
	return key
}

// withUsers opens the configured store and runs fn with the account service
// on it.
func withUsers(cmd *cobra.Command, environ []string, stderr io.Writer, fn func(context.Context, *auth.Service, auth.Store) error) error {
	cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(cmd.Context(), cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := auth.NewService(st, argon2id.New(argon2id.DefaultParams, 1), auth.Config{TouchEvery: -1}, log)
	return fn(cmd.Context(), svc, st)
}

// printKey creates an API key named name for u, limited to the symbol
// patterns of symbols (comma-separated; "" for every symbol), and prints
// it: alone on its line with quiet, else with a sentence saying it is shown
// once.
func printKey(ctx context.Context, svc *auth.Service, u auth.User, name, symbols string, quiet bool, stdout io.Writer) error {
	patterns, err := market.ParseSymbolPatterns(symbols)
	if err != nil {
		return err
	}
	secret, _, err := svc.CreateScopedAPIKey(ctx, u.ID, name, patterns)
	if err != nil {
		return err
	}
	if quiet {
		fmt.Fprintln(stdout, secret)
		return nil
	}
	scope := ""
	if len(patterns) > 0 {
		scope = " for symbols " + patterns.String()
	}
	fmt.Fprintf(stdout, "api key for <%s>%s (shown once, only its hash is stored): %s\n", u.Email, scope, secret)
	return nil
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
