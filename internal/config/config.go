// Package config loads findash's configuration: defaults < YAML file (--config)
// < FINDASH_* environment variables < command-line flags. Unknown keys in a
// file are an error, values are validated once, and String prints the result
// with secrets hidden.
//
// Only cmd/findash imports this package; it maps the sections onto the
// constructors' own Config types.
//
// It must not import any other findash package: it is plain data that
// cmd/findash maps onto constructors.
package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Config is findash's whole configuration as plain data.
type Config struct {
	HTTPAddr    string `koanf:"http_addr"`
	AdminAddr   string `koanf:"admin_addr"`
	MetricsAddr string `koanf:"metrics_addr"`
	// Contention profiles on the admin listener (off by default: they
	// cost on every blocking event or contended unlock).
	ProfileBlockRate     int `koanf:"profile_block_rate"`
	ProfileMutexFraction int `koanf:"profile_mutex_fraction"`
	// AdaptiveProcs lets GOMAXPROCS drop to 1 while the process uses
	// little CPU (decision 0086).
	AdaptiveProcs       bool          `koanf:"adaptive_procs"`
	DataDir             string        `koanf:"data_dir"`
	DatabaseURL         string        `koanf:"database_url"`
	DatabaseReplicaURLs []string      `koanf:"database_replica_urls"`
	RedisURL            string        `koanf:"redis_url"`
	NATSURL             string        `koanf:"nats_url"`
	S3Endpoint          string        `koanf:"s3_endpoint"`
	S3Bucket            string        `koanf:"s3_bucket"`
	S3AccessKey         string        `koanf:"s3_access_key"`
	S3SecretKey         string        `koanf:"s3_secret_key"`
	S3Region            string        `koanf:"s3_region"`
	SMTPURL             string        `koanf:"smtp_url"`
	SMTPFrom            string        `koanf:"smtp_from"`
	PublicURL           string        `koanf:"public_url"`
	Roles               []string      `koanf:"roles"`
	Feed                string        `koanf:"feed"`
	FeedSymbols         []string      `koanf:"feed_symbols"`
	BinanceWSURL        string        `koanf:"binance_ws_url"`
	BinanceRESTURL      string        `koanf:"binance_rest_url"`
	CoinbaseWSURL       string        `koanf:"coinbase_ws_url"`
	CoinbaseRESTURL     string        `koanf:"coinbase_rest_url"`
	FeedSilence         time.Duration `koanf:"feed_silence"`
	FeedStaleAfter      time.Duration `koanf:"feed_stale_after"`
	SimulatorSymbols    int           `koanf:"simulator_symbols"`
	SimulatorRate       int           `koanf:"simulator_rate"`
	SimulatorSeed       int64         `koanf:"simulator_seed"`
	LogFormat           string        `koanf:"log_format"`
	LogLevel            string        `koanf:"log_level"`
	ShutdownTimeout     time.Duration `koanf:"shutdown_timeout"`
	TickRetention       time.Duration `koanf:"tick_retention"`
	Archive             string        `koanf:"archive"`
	AllowedOrigins      []string      `koanf:"allowed_origins"`
	StreamMaxAge        time.Duration `koanf:"stream_max_age"`
	StreamReplicas      int           `koanf:"stream_replicas"`
	APIRateLimit        float64       `koanf:"api_rate_limit"`
	IngestRateLimit     float64       `koanf:"ingest_rate_limit"`
	TrustProxy          bool          `koanf:"trust_proxy"`
	DatabaseMigrateURL  string        `koanf:"database_migrate_url"`
	SecretKey           string        `koanf:"secret_key"`
	WebhookAllowPrivate bool          `koanf:"webhook_allow_private"`
	DrainDelay          time.Duration `koanf:"drain_delay"`
	// WebSocket protocol limits (docs/security.md "WebSocket protocol").
	WSPingRate  float64 `koanf:"ws_ping_rate"`
	WSPingBurst int     `koanf:"ws_ping_burst"`
	// Authentication limits (docs/security.md "Authentication").
	AuthRateLimit          float64       `koanf:"auth_rate_limit"`
	AuthAccountRateLimit   float64       `koanf:"auth_account_rate_limit"`
	AuthFailRateLimit      float64       `koanf:"auth_fail_rate_limit"`
	APIKeyCacheTTL         time.Duration `koanf:"apikey_cache_ttl"`
	APIKeyCacheMaxStale    time.Duration `koanf:"apikey_cache_max_stale"`
	APIKeyCacheNegativeTTL time.Duration `koanf:"apikey_cache_negative_ttl"`
	APIKeyCacheSize        int           `koanf:"apikey_cache_size"`
	// Job queues and per-user report caps (docs/security.md "Jobs"; jobs.go).
	JobsAlertWorkers  int `koanf:"jobs_alert_workers"`
	JobsReportWorkers int `koanf:"jobs_report_workers"`
	ReportsMaxQueued  int `koanf:"reports_max_queued"`
	ReportsMaxRunning int `koanf:"reports_max_running"`
	// WebSocket resources and connection caps (docs/security.md
	// "WebSocket resources", "HTTP").
	WSSendQueueBytes int           `koanf:"ws_send_queue_bytes"`
	WSMaxLag         time.Duration `koanf:"ws_max_lag"`
	WSWriteTimeout   time.Duration `koanf:"ws_write_timeout"`
	// WSIOURing lets the WebSocket writer pool send many connections'
	// frames with one io_uring_enter (decision 0087).
	WSIOURing          bool `koanf:"ws_io_uring"`
	WSMaxSubscriptions int  `koanf:"ws_max_subscriptions"`
	WSLogReaders       int  `koanf:"ws_log_readers"`
	MaxConns           int  `koanf:"max_conns"`
	MaxConnsPerIP      int  `koanf:"max_conns_per_ip"`
	FDReserve          int  `koanf:"fd_reserve"`
	// WSSessionCheckInterval is how often each gateway checks the sessions
	// behind its authenticated WebSockets against the session store
	// (decision 0083).
	WSSessionCheckInterval time.Duration `koanf:"ws_session_check_interval"`
	// Tick limits (docs/security.md "Input (ticks)").
	TickMinPrice    float64       `koanf:"tick_min_price"`
	TickMaxPrice    float64       `koanf:"tick_max_price"`
	TickMaxSize     float64       `koanf:"tick_max_size"`
	TickMaxNotional float64       `koanf:"tick_max_notional"`
	TickMaxAhead    time.Duration `koanf:"tick_max_ahead"`
	TickMaxAge      time.Duration `koanf:"tick_max_age"`
	// HTTP limits (docs/security.md "HTTP").
	HTTPHeaderTimeout    time.Duration `koanf:"http_header_timeout"`
	HTTPBodyTimeout      time.Duration `koanf:"http_body_timeout"`
	HTTPWriteTimeout     time.Duration `koanf:"http_write_timeout"`
	HTTPIdleTimeout      time.Duration `koanf:"http_idle_timeout"`
	HTTPMaxInFlightPerIP int           `koanf:"http_max_in_flight_per_ip"`
	// Symbol limits (docs/security.md "Symbols").
	MaxSymbols      int           `koanf:"max_symbols"`
	StrictSymbols   bool          `koanf:"strict_symbols"`
	SymbolIdleAfter time.Duration `koanf:"symbol_idle_after"`
	// Regions (decision 0036).
	Region             string        `koanf:"region"`
	StreamMirrorDomain string        `koanf:"stream_mirror_domain"`
	RegionStaleAfter   time.Duration `koanf:"region_stale_after"`
	// The persister (decision 0071).
	PersistLinger time.Duration `koanf:"persist_linger"`
	// Partitioned work (decision 0042).
	LogPartitions     int           `koanf:"log_partitions"`
	LogPartitionsFrom int           `koanf:"log_partitions_from"` // -1: no change asked (decision 0044)
	LeaseTTL          time.Duration `koanf:"lease_ttl"`

	// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces variant)
	// is set; the exporter reads the OTEL_* variables itself.
	Tracing bool `koanf:"-"`
}

// The roles a process can run; "all" stands for every one.
var allRoles = []string{"ingest", "gateway", "api", "worker"}

// Flags registers every configuration flag on fs, with its default and help.
// The environment variable of flag "http-addr" is FINDASH_HTTP_ADDR.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (below environment and flags)")
	fs.String("http-addr", "127.0.0.1:8080", "public listener: API, WebSocket, dashboard")
	fs.String("admin-addr", "127.0.0.1:9090", "admin listener: /metrics and /debug/pprof (never public)")
	fs.Int("profile-block-rate", 0, "record goroutine blocking events of at least this many ns in the admin listener's /debug/pprof/block (1 = every one); 0 = off")
	fs.Int("profile-mutex-fraction", 0, "record 1 in this many contended mutex unlocks in the admin listener's /debug/pprof/mutex; 0 = off")
	fs.Bool("adaptive-procs", true, "run the Go scheduler on one P (GOMAXPROCS 1) while the process uses at most half a core over 2 s, on every CPU it may use within 100-200 ms of needing more (decision 0086): at low rates a second idle P costs more CPU in wake-ups than it saves; off when GOMAXPROCS is set in the environment")
	fs.String("metrics-addr", "", "extra listener serving only /metrics, for a scraper outside the host or pod while admin stays on loopback; empty = none")
	fs.String("data-dir", "./findash-data", "SQLite file, embedded NATS store, local reports")
	fs.String("database-url", "", "postgres://… for PostgreSQL; empty = SQLite in the data dir")
	fs.StringSlice("database-replica-urls", nil, "comma-separated PostgreSQL read replicas")
	fs.String("redis-url", "", "redis://…; empty = in-process cache, sessions and limits")
	fs.String("nats-url", "", "nats://… (comma-separated cluster); empty = embedded NATS server")
	fs.String("s3-endpoint", "", "S3-compatible endpoint; empty = local disk")
	fs.String("s3-bucket", "", "S3 bucket")
	fs.String("s3-access-key", "", "S3 access key")
	fs.String("s3-secret-key", "", "S3 secret key")
	fs.String("s3-region", "", "S3 region")
	fs.String("smtp-url", "", "smtp://user:pass@host:port; empty = e-mails written to the log")
	fs.StringSlice("roles", []string{"all"}, "comma list of ingest,gateway,api,worker (or all)")
	fs.String("feed", "simulator", "tick feed: simulator, none, or a comma list of exchanges (binance,coinbase; symbols in --feed-symbols)")
	fs.Int("simulator-symbols", 20, "symbols of the built-in simulator")
	fs.Int("simulator-rate", 200, "ticks per second of the built-in simulator")
	fs.Int64("simulator-seed", 1, "random seed of the built-in simulator")
	fs.String("log-format", "", "text or json [text on a TTY, json otherwise]")
	fs.String("log-level", "info", "debug, info, warn or error")
	fs.Duration("shutdown-timeout", 30*time.Second, "graceful drain limit")
	fs.Duration("tick-retention", 7*24*time.Hour, "how long raw ticks are kept in the database")
	archiveFlags(fs)
	fs.StringSlice("allowed-origins", nil, "WebSocket origins allowed besides the own host")
	fs.Duration("stream-max-age", 24*time.Hour, "how long the event log keeps ticks")
	fs.Int("stream-replicas", 1, "JetStream replicas of the tick stream (external cluster)")
	fs.Float64("api-rate-limit", 1000, "read requests per second per client IP (burst twice that); 0 = no limit")
	fs.Float64("ingest-rate-limit", 200, "ingest requests per second per API key (burst twice that); 0 = no limit")
	fs.Bool("trust-proxy", false, "take the client IP from X-Forwarded-For (set it behind a load balancer)")
	fs.String("database-migrate-url", "", "direct postgres:// URL for migrations and the job queue when database-url goes through PgBouncer [database-url]")
	fs.String("secret-key", "", "key (>= 32 chars) signing WebSocket tokens and report links; the same on every instance [random per process]")
	fs.Bool("webhook-allow-private", false, "allow alert webhooks to loopback and private addresses (SSRF protection off)")
	httpAuthFlags(fs)
	symbolFlags(fs)
	regionFlags(fs)
	partitionFlags(fs)
	persistFlags(fs)
	feedFlags(fs)
	fs.Float64("ws-ping-rate", 10, "pings (and pongs) a second a WebSocket client may send after the burst; past it the connection is closed with 1008")
	fs.Int("ws-ping-burst", 20, "pings (and pongs) a WebSocket client may send at once")
	fs.Int("ws-send-queue-bytes", 512<<10, "bytes queued per WebSocket client; a channel that meets a full queue is read from the replay ring, then the event log, as the client catches up")
	fs.Duration("ws-max-lag", 10*time.Second, "how long a WebSocket client may stay behind after falling out of the replay ring before it gets gaps and close 1008 (slow consumer)")
	fs.Duration("ws-session-check-interval", time.Minute, "how often each gateway checks the sessions behind its authenticated WebSockets against the session store, closing with 1008 those whose session expired or ended unannounced (each distinct session looked up once)")
	fs.Bool("ws-io-uring", true, "send the frames of many WebSocket connections with one io_uring system call instead of one write(2) each, where the kernel allows io_uring (decision 0087); falls back to write(2) by itself")
	fs.Duration("ws-write-timeout", 10*time.Second, "how long a WebSocket client may take nothing before it is closed as a slow consumer; also the wait for its close reply")
	fs.Int("ws-max-subscriptions", 200, "channels one WebSocket connection may subscribe to")
	fs.Int("ws-log-readers", 4, "reads of the event log at once for WebSocket clients behind the replay ring (resumes from before it)")
	fs.Int("max-conns", 0, "open connections on the public listener (HTTP and WebSocket); 0 = the open-file limit minus --fd-reserve")
	fs.Int("max-conns-per-ip", 1000, "open connections on the public listener per client address (IPv4, IPv6 /64); 0 = no limit; off with --trust-proxy (the peer is the load balancer)")
	fs.Int("fd-reserve", 256, "file descriptors kept free of public connections for /readyz, /metrics, the database, NATS and files")
	fs.Float64("tick-min-price", 1e-12, "lowest tick price accepted (at least 1e-18)")
	fs.Float64("tick-max-price", 1e12, "highest tick price accepted (at most 1e18)")
	fs.Float64("tick-max-size", 1e15, "largest tick size accepted (at most 1e18)")
	fs.Float64("tick-max-notional", 1e15, "largest price × size of a tick accepted (at most 1e24)")
	fs.Duration("tick-max-ahead", 5*time.Second, "how far past the server clock a tick's ts may lie")
	fs.Duration("tick-max-age", 0, "how far behind the server clock a tick's ts may lie [tick-retention]")
	fs.Duration("drain-delay", 0, "on SIGTERM, how long /readyz answers 503 before listeners close (lets load balancers notice)")
	jobFlags(fs)
	secretFileFlags(fs)
}

// storeFlags are the settings of the commands that only work on the
// database (migrate, user): where the data lives, and logging.
var storeFlags = []string{"config", "data-dir", "database-url", "database-url-file", "database-migrate-url", "database-migrate-url-file", "log-format", "log-level"}

// StoreFlags registers the part of Flags that the commands working only on
// the database (migrate, user) need, with serve's defaults and help, so their
// help is not buried under serve's flags. The other settings still come
// from the file and the environment (Load).
func StoreFlags(fs *pflag.FlagSet) {
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	Flags(all)
	for _, name := range storeFlags {
		fs.AddFlag(all.Lookup(name))
	}
}

// Load builds the configuration from fs (already parsed), the environment as
// given by environ (os.Environ's format) and the YAML file named by --config
// or FINDASH_CONFIG. fs may hold only some of Flags (StoreFlags): the others
// take their defaults, then the file's and the environment's values, so one
// file serves every command.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	if err := refuseSecretFlags(fs); err != nil {
		return Config{}, err
	}
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	Flags(all)
	known := make(map[string]bool)
	all.VisitAll(func(f *pflag.Flag) { known[key(f.Name)] = true })

	k := koanf.New(".")
	// Every setting's default first; fs's flags then win only when set.
	if err := k.Load(posflag.ProviderWithFlag(all, ".", koanf.New("."), func(f *pflag.Flag) (string, any) {
		return key(f.Name), posflag.FlagVal(all, f)
	}), nil); err != nil {
		return Config{}, fmt.Errorf("read defaults: %w", err)
	}
	cfgFile, _ := fs.GetString("config")
	if !fs.Changed("config") {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, "FINDASH_CONFIG="); ok {
				cfgFile = v
			}
		}
	}
	if cfgFile != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(cfgFile), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config file %s: %w", cfgFile, err)
		}
		for _, kk := range fk.Keys() {
			if !known[kk] || kk == "config" {
				return Config{}, fmt.Errorf("config file %s: unknown key %q", cfgFile, kk)
			}
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("merge config file: %w", err)
		}
	}
	err := k.Load(envprovider.Provider(".", envprovider.Opt{
		Prefix:      "FINDASH_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, v string) (string, any) {
			kk := strings.ToLower(strings.TrimPrefix(name, "FINDASH_"))
			if !known[kk] || kk == "config" {
				return "", nil // FINDASH_TEST_* and friends are not configuration
			}
			return kk, v
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("read environment: %w", err)
	}
	err = k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
		return key(f.Name), posflag.FlagVal(fs, f)
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("read flags: %w", err)
	}
	if err := loadSecretFiles(k); err != nil {
		return Config{}, err
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("decode configuration: %w", err)
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "OTEL_EXPORTER_OTLP_ENDPOINT=") || strings.HasPrefix(kv, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=") {
			c.Tracing = true
		}
	}
	c.DatabaseReplicaURLs = splitList(c.DatabaseReplicaURLs)
	c.Roles = splitList(c.Roles)
	c.AllowedOrigins = splitList(c.AllowedOrigins)
	c.FeedSymbols = splitList(c.FeedSymbols)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func key(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// splitList flattens comma-separated entries (an environment variable arrives
// as one string) and drops blanks.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Validate checks every value and returns all problems at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.HTTPAddr == "" {
		bad("http_addr", "must not be empty")
	}
	if c.AdminAddr == c.HTTPAddr && c.AdminAddr != "" && !strings.HasSuffix(c.AdminAddr, ":0") {
		bad("admin_addr", "must differ from http_addr (metrics never go on the public listener)")
	}
	if c.MetricsAddr != "" && (c.MetricsAddr == c.HTTPAddr || c.MetricsAddr == c.AdminAddr) && !strings.HasSuffix(c.MetricsAddr, ":0") {
		bad("metrics_addr", "must differ from http_addr and admin_addr")
	}
	if c.ProfileBlockRate < 0 {
		bad("profile_block_rate", "must be 0 (off) or more")
	}
	if c.ProfileMutexFraction < 0 {
		bad("profile_mutex_fraction", "must be 0 (off) or more")
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.DatabaseURL != "" && !hasScheme(c.DatabaseURL, "postgres", "postgresql") {
		bad("database_url", "must be a postgres:// URL (empty = SQLite)")
	}
	for _, u := range c.DatabaseReplicaURLs {
		if !hasScheme(u, "postgres", "postgresql") {
			bad("database_replica_urls", "%q is not a postgres:// URL", redact(u))
		}
	}
	if c.RedisURL != "" && !hasScheme(c.RedisURL, "redis", "rediss") {
		bad("redis_url", "must be a redis:// or rediss:// URL")
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if !hasScheme(strings.TrimSpace(u), "nats", "tls", "ws", "wss") {
				bad("nats_url", "%q is not a nats:// URL", redact(u))
			}
		}
	}
	if c.SMTPURL != "" && !hasScheme(c.SMTPURL, "smtp", "smtps") {
		bad("smtp_url", "must be an smtp:// or smtps:// URL")
	}
	if len(c.Roles) == 0 {
		bad("roles", "must name at least one role")
	}
	for _, r := range c.Roles {
		if r != "all" && !slices.Contains(allRoles, r) {
			bad("roles", "unknown role %q (want %s or all)", r, strings.Join(allRoles, ","))
		}
	}
	c.validateFeed(bad)
	if c.SimulatorSymbols < 1 || c.SimulatorSymbols > 10_000 {
		bad("simulator_symbols", "must be between 1 and 10000")
	}
	if c.SimulatorRate < 1 || c.SimulatorRate > 10_000_000 {
		bad("simulator_rate", "must be between 1 and 10000000")
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "must be text or json")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be > 0")
	}
	if c.TickRetention < time.Hour {
		bad("tick_retention", "must be at least 1h")
	}
	if c.StreamMaxAge < 10*time.Minute {
		bad("stream_max_age", "must be at least 10m (the replay window needs 5m)")
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("stream_replicas", "must be between 1 and 5")
	}
	if c.DatabaseMigrateURL != "" && !hasScheme(c.DatabaseMigrateURL, "postgres", "postgresql") {
		bad("database_migrate_url", "must be a postgres:// URL")
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		bad("secret_key", "must be at least 32 characters")
	}
	if c.DrainDelay < 0 || c.DrainDelay >= c.ShutdownTimeout {
		bad("drain_delay", "must be >= 0 and below shutdown_timeout")
	}
	if c.WSSendQueueBytes < 64<<10 || c.WSSendQueueBytes > 64<<20 {
		bad("ws_send_queue_bytes", "must be between 65536 (64 KiB) and 67108864 (64 MiB)")
	}
	if c.WSMaxLag < 100*time.Millisecond {
		bad("ws_max_lag", "must be at least 100ms")
	}
	if c.WSWriteTimeout < 100*time.Millisecond {
		bad("ws_write_timeout", "must be at least 100ms")
	}
	if c.WSSessionCheckInterval < 100*time.Millisecond || c.WSSessionCheckInterval > time.Hour {
		bad("ws_session_check_interval", "must be between 100ms and 1h")
	}
	if c.WSMaxSubscriptions < 1 || c.WSMaxSubscriptions > 10_000 {
		bad("ws_max_subscriptions", "must be between 1 and 10000")
	}
	if c.WSLogReaders < 1 || c.WSLogReaders > 256 {
		bad("ws_log_readers", "must be between 1 and 256")
	}
	if c.MaxConns < 0 {
		bad("max_conns", "must be >= 0 (0 = from the open-file limit)")
	}
	if c.MaxConnsPerIP < 0 {
		bad("max_conns_per_ip", "must be >= 0 (0 = no limit)")
	}
	if c.FDReserve < 16 {
		bad("fd_reserve", "must be at least 16")
	}
	if c.WSPingRate <= 0 || c.WSPingRate > 1000 {
		bad("ws_ping_rate", "must be above 0 and at most 1000")
	}
	if c.WSPingBurst < 1 || c.WSPingBurst > 10000 {
		bad("ws_ping_burst", "must be between 1 and 10000")
	}
	// The hard bounds are market.HardMinPrice and its siblings: within them
	// no aggregate can overflow (config imports no findash package).
	if !(c.TickMinPrice >= 1e-18 && c.TickMinPrice <= 1e18) {
		bad("tick_min_price", "must be between 1e-18 and 1e18")
	}
	if !(c.TickMaxPrice >= c.TickMinPrice && c.TickMaxPrice <= 1e18) {
		bad("tick_max_price", "must be between tick_min_price and 1e18")
	}
	if !(c.TickMaxSize > 0 && c.TickMaxSize <= 1e18) {
		bad("tick_max_size", "must be > 0 and at most 1e18")
	}
	if !(c.TickMaxNotional > 0 && c.TickMaxNotional <= 1e24) {
		bad("tick_max_notional", "must be > 0 and at most 1e24")
	}
	if c.TickMaxAhead <= 0 || c.TickMaxAhead > 24*time.Hour {
		bad("tick_max_ahead", "must be > 0 and at most 24h")
	}
	if c.TickMaxAge < 0 {
		bad("tick_max_age", "must be >= 0 (0 = tick_retention)")
	}
	if c.APIRateLimit < 0 {
		bad("api_rate_limit", "must be >= 0 (0 = no limit)")
	}
	if c.IngestRateLimit < 0 {
		bad("ingest_rate_limit", "must be >= 0 (0 = no limit)")
	}
	c.validateHTTPAuth(bad)
	c.validateSymbols(bad)
	c.validateRegion(bad)
	c.validatePartitions(bad)
	c.validatePersist(bad)
	c.validateJobs(bad)
	c.validateArchive(bad)
	return errors.Join(errs...)
}
