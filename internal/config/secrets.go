package config

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// secretKeys hold a secret as their whole value.
var secretKeys = []string{"secret_key", "s3_secret_key"}

// secretURLKeys hold URLs that may carry a password (user info, a password
// query parameter, or a NATS token).
var secretURLKeys = []string{"database_url", "database_replica_urls", "database_migrate_url", "redis_url", "nats_url", "smtp_url"}

// secretFileFlags registers --<name>-file for every secret setting: the
// way to hand a secret over without the command line (a Kubernetes Secret
// mounted as a file, a Docker secret, systemd's LoadCredential).
func secretFileFlags(fs *pflag.FlagSet) {
	for _, k := range append(append([]string{}, secretKeys...), secretURLKeys...) {
		name := flagName(k)
		fs.String(name+"-file", "", "read --"+name+" from this file (keeps the secret off the command line)")
	}
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// refuseSecretFlags fails when a secret was given as a command-line flag:
// every local user can read a process's arguments (ps, /proc/PID/cmdline),
// and so could anyone who reached a pprof cmdline endpoint.
func refuseSecretFlags(fs *pflag.FlagSet) error {
	refuse := func(k string) error {
		env := "FINDASH_" + strings.ToUpper(k)
		return fmt.Errorf("--%s on the command line: every local user can read it (ps, /proc/PID/cmdline); "+
			"set %s in the environment, put it in the --config file, or use --%s-file", flagName(k), env, flagName(k))
	}
	for _, k := range secretKeys {
		if fs.Changed(flagName(k)) {
			return refuse(k)
		}
	}
	for _, k := range secretURLKeys {
		f := fs.Lookup(flagName(k))
		if f == nil || !f.Changed {
			continue
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			for _, u := range strings.Split(v, ",") {
				if urlHasSecret(strings.TrimSpace(u)) {
					return refuse(k)
				}
			}
		}
	}
	return nil
}

// urlHasSecret reports whether a connection URL carries a credential.
func urlHasSecret(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.Contains(raw, "@") // unparsable: assume the worst
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok || u.Scheme == "nats" || u.Scheme == "tls" {
			return true // a NATS user without password is a token
		}
	}
	q := u.Query()
	return q.Has("password") || q.Has("sslpassword")
}

// maxSecretFile bounds a secret file: a key or a URL, not a dump.
const maxSecretFile = 64 << 10

// loadSecretFiles reads every --<name>-file (or FINDASH_<NAME>_FILE) that is
// set into its setting. Setting both the value and its file is an error.
func loadSecretFiles(k *koanf.Koanf) error {
	for _, key := range append(append([]string{}, secretKeys...), secretURLKeys...) {
		path := k.String(key + "_file")
		if path == "" {
			continue
		}
		set := k.String(key) != ""
		if key == "database_replica_urls" {
			set = len(splitList(k.Strings(key))) > 0
		}
		if set {
			return fmt.Errorf("%s and %s_file are both set: set one", key, key)
		}
		b, err := readSecretFile(path)
		if err != nil {
			return fmt.Errorf("%s_file: %w", key, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if key == "database_replica_urls" {
			if err := k.Set(key, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' })); err != nil {
				return fmt.Errorf("%s_file: %w", key, err)
			}
			continue
		}
		if err := k.Set(key, v); err != nil {
			return fmt.Errorf("%s_file: %w", key, err)
		}
	}
	return nil
}

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	return b, nil
}
