package bus

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
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
