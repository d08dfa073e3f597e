package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/findash/findash/internal/testenv"
)

// TestSessionRevocationOnEveryInstance: at stage 2 (PostgreSQL, one NATS
// server shared by the instances) a session revoked through instance a
// closes the user's WebSockets on instance b, and b refuses a WS token of
// that session (issued by a, same --secret-key) from then on: b learns of
// it only through the bus (findash.sessions.revoked).
func TestSessionRevocationOnEveryInstance(t *testing.T) {
	pg := testenv.Postgres(t)
	keyFile := secretKeyFile(t)
	args := []string{"--nats-url", startNATS(t), "--database-url", pg.URL, "--secret-key-file", keyFile}
	a := start(t, testConfig(t, t.TempDir(), args...))
	b := start(t, testConfig(t, t.TempDir(), args...))

	owner, thief, wsToken := ownerAndThief(t, a)
	bySession, byWSToken := dialAlerts(t, b, thief.token), dialAlerts(t, b, wsToken)

	revokeOtherSessions(t, owner)
	wantRevokedClose(t, bySession, "instance b: WebSocket opened with the session revoked on a")
	wantRevokedClose(t, byWSToken, "instance b: WebSocket opened with a WS token of that session")
	wantRefused(t, b, thief.token, "the revoked session, on b")
	wantRefused(t, b, wsToken, "a WS token of the revoked session, on b")
}

// TestSessionRevocationWithoutTheBus: at stage 2 an instance that does not
// hear the announcement of an ended session (here b has a NATS server of
// its own, as if cut from a's when it was sent) still closes the
// WebSockets opened with that session, or a WS token made from it, at its
// next session check (--ws-session-check-interval), with 1008 "session
// revoked"; the user's other session keeps its connection. Before
// decision 0083 they stayed open on b for their lives.
func TestSessionRevocationWithoutTheBus(t *testing.T) {
	pg := testenv.Postgres(t)
	keyFile := secretKeyFile(t)
	a := start(t, testConfig(t, t.TempDir(), "--nats-url", startNATS(t), "--database-url", pg.URL, "--secret-key-file", keyFile))
	b := start(t, testConfig(t, t.TempDir(), "--nats-url", startNATS(t), "--database-url", pg.URL, "--secret-key-file", keyFile,
		"--ws-session-check-interval", "200ms"))

	owner, thief, wsToken := ownerAndThief(t, a)
	bySession, byWSToken, byOwner := dialAlerts(t, b, thief.token), dialAlerts(t, b, wsToken), dialAlerts(t, b, owner.token)

	revokeOtherSessions(t, owner)
	wantRevokedClose(t, bySession, "instance b, not told: WebSocket opened with the session revoked on a")
	wantRevokedClose(t, byWSToken, "instance b, not told: WebSocket opened with a WS token of that session")
	byOwner.send(map[string]any{"op": "ping", "id": 2})
	byOwner.next(ofType("pong"))
}

// startNATS starts a NATS server with JetStream for the test and returns
// its client URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return ns.ClientURL()
}

// secretKeyFile writes a --secret-key-file the instances of a test share.
func secretKeyFile(t *testing.T) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// ownerAndThief signs a user up on a and logs them in twice: the owner's
// session and the thief's, and a WS token made from the thief's.
func ownerAndThief(t *testing.T, a *instance) (owner, thief *acctClient, wsToken string) {
	t.Helper()
	const email, password = "bob@example.com", "correct horse battery"
	owner, thief = newAcctClient(t, a), newAcctClient(t, a)
	owner.must(201, viaNone, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": password}, nil)
	for _, c := range []*acctClient{owner, thief} {
		var login struct {
			Token string `json:"token"`
		}
		c.must(200, viaNone, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &login)
		c.token = login.Token
	}
	var wsTok struct {
		Token string `json:"token"`
	}
	thief.must(200, viaBearer, "POST", "/api/v1/auth/ws-token", nil, &wsTok)
	return owner, thief, wsTok.Token
}

// revokeOtherSessions ends, through owner's session, every other session
// of owner's user.
func revokeOtherSessions(t *testing.T, owner *acctClient) {
	t.Helper()
	var sessions struct {
		Data []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"data"`
	}
	owner.must(200, viaBearer, "GET", "/api/v1/sessions", nil, &sessions)
	for _, s := range sessions.Data {
		if !s.Current {
			owner.must(204, viaBearer, "DELETE", "/api/v1/sessions/"+s.ID, nil, nil)
		}
	}
}
