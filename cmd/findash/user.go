package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/config"
)

// userCommand is `findash user create --email … [--password-stdin] [--api-key]`.
func userCommand(environ []string, stdout, stderr io.Writer) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage users"}
	var email, keyName string
	var withKey, passwordStdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user (and print an API key with --api-key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadForTool(cmd.Flags(), environ, stderr)
			if err != nil {
				return err
			}
			var password string
			if passwordStdin {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1024))
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				password = trimNewline(string(b))
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			svc := auth.NewService(st, auth.NewHasher(auth.DefaultParams, 1), auth.Config{TouchEvery: -1}, log)
			u, err := svc.CreateUser(cmd.Context(), email, password)
			if err != nil {
				return fmt.Errorf("create user: %w", err)
			}
			fmt.Fprintf(stdout, "created user %d <%s>\n", u.ID, u.Email)
			if withKey {
				secret, _, err := svc.CreateAPIKey(cmd.Context(), u.ID, keyName)
				if err != nil {
					return fmt.Errorf("create api key: %w", err)
				}
				fmt.Fprintf(stdout, "api key (shown once, only its hash is stored): %s\n", secret)
			}
			return nil
		},
	}
	config.Flags(create.Flags())
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address (required)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password (min 10 chars) from stdin; without it the user cannot log in, only use API keys")
	create.Flags().BoolVar(&withKey, "api-key", false, "also create an API key and print it")
	create.Flags().StringVar(&keyName, "api-key-name", "cli", "name of the API key")
	create.MarkFlagRequired("email")
	user.AddCommand(create)
	return user
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
