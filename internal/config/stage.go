package config

import (
	"net/url"
	"os"
	"slices"
)

// HasRole reports whether the process runs role.
func (c *Config) HasRole(role string) bool {
	return slices.Contains(c.Roles, "all") || slices.Contains(c.Roles, role)
}

// Stage names the playbook stage the configuration amounts to.
func (c *Config) Stage() int {
	switch {
	case c.DatabaseURL == "" && c.RedisURL == "" && c.NATSURL == "":
		return 1
	case !slices.Contains(c.Roles, "all"):
		return 4
	case c.NATSURL != "" || len(c.DatabaseReplicaURLs) > 0:
		return 3
	default:
		return 2
	}
}

func hasScheme(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	return err == nil && slices.Contains(schemes, u.Scheme) && u.Host != ""
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// IsTerminal reports whether f is a terminal (for the default log format).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
