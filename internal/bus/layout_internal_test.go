package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/testenv"
)

// TestStoredPartitions: the layout is read from the stream's metadata, or,
// for a stream created before it was recorded, from its transform; a
// transform findash did not make is refused.
func TestStoredPartitions(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      jetstream.StreamConfig
		n        int
		known    bool
		mismatch bool
	}{
		{"metadata", jetstream.StreamConfig{Metadata: map[string]string{LayoutKey: "8"}}, 8, true, false},
		{"metadata 0", jetstream.StreamConfig{Metadata: map[string]string{LayoutKey: "0"}, SubjectTransform: &jetstream.SubjectTransformConfig{Destination: partitionDest(4)}}, 0, true, false},
		{"metadata junk", jetstream.StreamConfig{Metadata: map[string]string{LayoutKey: "-3"}}, 0, false, true},
		{"old unpartitioned", jetstream.StreamConfig{}, 0, true, false},
		{"old partitioned", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Destination: partitionDest(16)}}, 16, true, false},
		{"old mirror", jetstream.StreamConfig{Mirror: &jetstream.StreamSource{Name: StreamName}}, 0, false, false},
		{"foreign transform", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Destination: "findash.ticks.{{partition(4,1)}}.x"}}, 0, false, true},
		{"foreign count", jetstream.StreamConfig{SubjectTransform: &jetstream.SubjectTransformConfig{Destination: subjectPrefix + "{{partition(04,1)}}.{{wildcard(1)}}"}}, 0, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, known, err := storedPartitions(tt.cfg)
			if n != tt.n || known != tt.known || errors.Is(err, ErrLayoutMismatch) != tt.mismatch {
				t.Errorf("storedPartitions = %d, %v, %v; want %d, %v, mismatch %v", n, known, err, tt.n, tt.known, tt.mismatch)
			}
		})
	}
}

// TestCheckLayout: the same count opens; another is refused unless the
// stored one is named as the one to change.
func TestCheckLayout(t *testing.T) {
	stored := jetstream.StreamConfig{Metadata: map[string]string{LayoutKey: "8"}}
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"same", Config{Partitions: 8}, true},
		{"fewer", Config{Partitions: 4}, false},
		{"unpartitioned", Config{Partitions: 0}, false},
		{"change from the stored", Config{Partitions: 4, Repartition: true, PartitionsFrom: 8}, true},
		{"change from another", Config{Partitions: 4, Repartition: true, PartitionsFrom: 0}, false},
		{"from without the flag", Config{Partitions: 4, PartitionsFrom: 8}, false},
		{"same with a stale change", Config{Partitions: 8, Repartition: true, PartitionsFrom: 4}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLayout(stored, tt.cfg)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrLayoutMismatch)) {
				t.Errorf("checkLayout(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
			}
		})
	}
}

// reopener returns a function that opens b's stream again with a config
// and returns how many stream updates that sent.
func reopener(t *testing.T, ctx context.Context, b *Bus) func(Config) int {
	updates, err := b.nc.SubscribeSync("$JS.API.STREAM.UPDATE." + StreamName)
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg Config) int {
		t.Helper()
		cfg.defaults()
		if _, err := b.openStream(ctx, streamConfig(cfg), cfg); err != nil {
			t.Fatalf("openStream(%+v): %v", cfg, err)
		}
		if err := b.nc.Flush(); err != nil { // our own requests are delivered before the PONG
			t.Fatal(err)
		}
		n, _, err := updates.Pending()
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, err := updates.NextMsg(time.Second); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
}

// TestOpenStreamWritesOnlyChanges: reopening the stream with the settings
// it has sends no update (an instance that read the layout just before
// another changed it cannot write the old one back); a changed setting
// does, and is applied.
func TestOpenStreamWritesOnlyChanges(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Partitions: 8}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	reopen := reopener(t, ctx, b)
	if n := reopen(cfg); n != 0 {
		t.Errorf("reopening with the same settings sent %d updates, want 0", n)
	}
	changed := cfg
	changed.MaxAge = 3 * time.Hour
	if n := reopen(changed); n != 1 {
		t.Errorf("reopening with another max age sent %d updates, want 1", n)
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 3*time.Hour {
		t.Errorf("max age after the update = %v, want 3h", info.Config.MaxAge)
	}
	if n := reopen(changed); n != 0 {
		t.Errorf("reopening with the updated settings sent %d updates, want 0", n)
	}
}

// TestOpenMirrorWritesOnlyChanges: the same for a mirror region's stream,
// whose source the server keeps in another form than it was given.
func TestOpenMirrorWritesOnlyChanges(t *testing.T) {
	a := testenv.NATSRegion(t, "a", "")
	r := testenv.NATSRegion(t, "b", a.LeafAddr)
	testenv.Eventually(t, 10*time.Second, r.Linked, "region b's leafnode to a never came up")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	primary, err := Open(ctx, Config{URL: a.URL, Partitions: 8}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(ctx)
	cfg := Config{URL: r.URL, MirrorDomain: "a", Partitions: 8}
	b, err := Open(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if n := reopener(t, ctx, b)(cfg); n != 0 {
		t.Errorf("reopening the mirror with the same settings sent %d updates, want 0", n)
	}
}
