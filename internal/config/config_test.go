package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, environ []string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return Load(fs, environ)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.AdminAddr != "127.0.0.1:9090" || c.DataDir != "./findash-data" ||
		c.Feed != "simulator" || c.SimulatorSymbols != 20 || c.SimulatorRate != 200 ||
		c.ShutdownTimeout != 30*time.Second || c.TickRetention != 7*24*time.Hour || c.Stage() != 1 ||
		!c.HasRole("worker") {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "findash.yaml")
	os.WriteFile(file, []byte("http_addr: 127.0.0.1:1111\nsimulator_rate: 5\nlog_level: warn\nroles: [api, gateway]\n"), 0o600)

	env := []string{"FINDASH_CONFIG=" + file, "FINDASH_SIMULATOR_RATE=7", "FINDASH_LOG_LEVEL=error", "FINDASH_TEST_POSTGRES_URL=x"}
	c, err := load(t, []string{"--log-level=debug"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:1111" {
		t.Errorf("HTTPAddr = %q, want the file's value", c.HTTPAddr)
	}
	if c.SimulatorRate != 7 {
		t.Errorf("SimulatorRate = %d, want the environment's 7 over the file's 5", c.SimulatorRate)
	}
	if c.LogLevel != "debug" {
		t.Errorf("LogLevel = %q, want the flag's debug", c.LogLevel)
	}
	if strings.Join(c.Roles, ",") != "api,gateway" || c.HasRole("worker") {
		t.Errorf("Roles = %v, want api,gateway", c.Roles)
	}

	c, err = load(t, nil, []string{"FINDASH_ROLES=ingest, worker", "FINDASH_DATABASE_REPLICA_URLS=postgres://a/db,postgres://b/db"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Roles, ",") != "ingest,worker" || len(c.DatabaseReplicaURLs) != 2 {
		t.Errorf("lists from env = %v / %v", c.Roles, c.DatabaseReplicaURLs)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("http_addr: 127.0.0.1:1\nhttp_adr: typo\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown file key", []string{"--config", unknown}, nil, `unknown key "http_adr"`},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "read config file"},
		{"bad database url", nil, []string{"FINDASH_DATABASE_URL=mysql://x/y"}, "database_url"},
		{"bad role", []string{"--roles", "ingest,cook"}, nil, `unknown role "cook"`},
		{"bad feed", nil, []string{"FINDASH_FEED=bloomberg"}, "feed"},
		{"bad duration", nil, []string{"FINDASH_SHUTDOWN_TIMEOUT=soon"}, "shutdown_timeout"},
		{"bad level", []string{"--log-level", "loud"}, nil, "log_level"},
		{"same listeners", []string{"--admin-addr", "127.0.0.1:8080"}, nil, "admin_addr"},
		{"no symbols", []string{"--max-symbols", "0"}, nil, "max_symbols"},
		{"simulator past the cap", []string{"--max-symbols", "5"}, nil, "simulator_symbols"},
		{"short idle", nil, []string{"FINDASH_SYMBOL_IDLE_AFTER=10s"}, "symbol_idle_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestStringHidesSecrets(t *testing.T) {
	c, err := load(t, nil, []string{"FINDASH_DATABASE_URL=postgres://u:hunter2@db/x", "FINDASH_S3_SECRET_KEY=s3cr3t", "FINDASH_SECRET_KEY=0123456789abcdef0123456789abcdefKEY", "FINDASH_REDIS_URL=redis://:pw9@r:6379"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"hunter2", "s3cr3t", "pw9", "0123456789abcdef0123456789abcdefKEY"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q: %s", secret, s)
		}
	}
}

// TestStoreFlags: a command with only the store's flags (user, migrate)
// still reads a file written for serve, takes serve's settings from the
// environment, and its own flags win.
func TestStoreFlags(t *testing.T) {
	fs := pflag.NewFlagSet("user", pflag.ContinueOnError)
	StoreFlags(fs)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if got := strings.Join(names, ","); got != "config,data-dir,database-migrate-url,database-migrate-url-file,database-url,database-url-file,log-format,log-level" {
		t.Errorf("StoreFlags registered %s", got)
	}
	file := filepath.Join(t.TempDir(), "findash.yaml")
	os.WriteFile(file, []byte("http_addr: 127.0.0.1:1111\ndata_dir: /from/file\nsimulator_rate: 5\n"), 0o600)
	if err := fs.Parse([]string{"--config", file, "--data-dir", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, []string{"FINDASH_REDIS_URL=redis://127.0.0.1:6379/0", "FINDASH_LOG_LEVEL=warn"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/flag" || c.HTTPAddr != "127.0.0.1:1111" || c.SimulatorRate != 5 ||
		c.RedisURL != "redis://127.0.0.1:6379/0" || c.LogLevel != "warn" || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("config = %+v", c)
	}
}

// TestLogValue: the start-up log shows the settings as key=value pairs named
// as in the file, lists as on the command line, secrets hidden, in text and
// in JSON.
func TestLogValue(t *testing.T) {
	c, err := load(t, []string{"--roles", "api,gateway", "--data-dir", "/srv/findash"}, []string{
		"FINDASH_DATABASE_URL=postgres://u:hunter2@db/x", "FINDASH_S3_SECRET_KEY=s3cr3t",
		"FINDASH_NATS_URL=nats://a:natspw@n1:4222,nats://natstoken@n2:4222", "FINDASH_SMTP_URL=smtp://m:mailpw@mx:25",
		"FINDASH_DATABASE_MIGRATE_URL=postgres://db/x?sslmode=disable&password=qpw",
	})
	if err != nil {
		t.Fatal(err)
	}
	var text, js strings.Builder
	slog.New(slog.NewTextHandler(&text, nil)).Info("starting", "config", c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("starting", "config", c)
	for _, want := range []string{
		"config.http_addr=127.0.0.1:8080", "config.data_dir=/srv/findash", "config.roles=api,gateway",
		"config.database_url=postgres://u:xxxxx@db/x", "config.s3_secret_key=xxxxx",
		"config.nats_url=nats://a:xxxxx@n1:4222,nats://xxxxx@n2:4222", "config.shutdown_timeout=30s", "config.trust_proxy=false",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text log lacks %s:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "config.redis_url") {
		t.Errorf("text log shows the empty redis_url:\n%s", text.String())
	}
	if !strings.Contains(js.String(), `"config":{"http_addr":"127.0.0.1:8080",`) {
		t.Errorf("JSON log does not hold the config as an object:\n%s", js.String())
	}
	for _, secret := range []string{"hunter2", "s3cr3t", "natspw", "natstoken", "mailpw", "qpw", "{HTTPAddr"} {
		if strings.Contains(text.String()+js.String()+c.String(), secret) {
			t.Errorf("the log shows %q:\n%s\n%s\n%s", secret, text.String(), js.String(), c.String())
		}
	}
}
