package argon2id_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/findash/findash/internal/auth/argon2id"
)

// fastParams keep tests quick; one test checks DefaultParams.
var fastParams = argon2id.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHasher(t *testing.T) {
	ctx := t.Context()
	h := argon2id.New(fastParams, 1)
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatalf("Hash() error: %v", err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(enc) {
		t.Errorf("Hash() = %q, not a PHC argon2id string with the given parameters", enc)
	}
	again, _ := h.Hash(ctx, "correct horse battery")
	if again == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
	}
	for _, tc := range tests {
		if got, err := h.Verify(ctx, tc.password, enc); err != nil || got != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v, nil", tc.password, got, err, tc.want)
		}
	}
	// A hash made with other parameters verifies with its own.
	other, err := argon2id.New(argon2id.Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16}, 1).Hash(ctx, "pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(ctx, "pw-0123456789", other); !ok || err != nil {
		t.Errorf("Verify(hash with other params %q) = %v, %v; want true, nil", other, ok, err)
	}
}

func TestHasherDefaultParams(t *testing.T) {
	h := argon2id.New(argon2id.DefaultParams, 1)
	enc, err := h.Hash(t.Context(), "0123456789")
	if err != nil {
		t.Fatalf("Hash() error: %v", err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash() = %q, want OWASP parameters m=19456,t=2,p=1", enc)
	}
	if ok, err := h.Verify(t.Context(), "0123456789", enc); !ok || err != nil {
		t.Errorf("Verify() = %v, %v; want true, nil", ok, err)
	}
}

func TestHasherMalformed(t *testing.T) {
	h := argon2id.New(fastParams, 1)
	for _, enc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=18$m=256,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=256,t=0,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=256,t=1,p=0$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=256,t=1,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$AAAA",
		"$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ",
	} {
		if ok, err := h.Verify(t.Context(), "0123456789", enc); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want false, error", enc, ok, err)
		}
	}
}
