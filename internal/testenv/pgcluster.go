package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGCluster is a throwaway PostgreSQL primary and one streaming standby of
// it, each its own postmaster process on a free loopback port with its data
// in a temporary directory: for failover tests, which kill and promote
// servers and so cannot use the machine's shared ones. Both are stopped
// (killed) and their directories removed when the test ends, failed or not.
type PGCluster struct {
	Primary, Standby *PGServer
}

// PGServer is one postmaster of a PGCluster.
type PGServer struct {
	// Port is its loopback TCP port.
	Port int
	// Dir is its data directory (also its Unix socket directory).
	Dir string

	tb   testing.TB
	bin  string
	cred *syscall.Credential // the postgres OS user when the test runs as root
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
	log  *bytes.Buffer // its stderr: only read after done is closed
}

// PGClusterOptions tunes NewPGCluster.
type PGClusterOptions struct {
	// Synchronous makes the primary wait, at every commit, for the standby
	// to have flushed the commit's WAL (synchronous_standby_names '*',
	// synchronous_commit on): an acknowledged commit is on both servers.
	// The standby does not get the setting, so once promoted it commits
	// alone. False: asynchronous streaming (PostgreSQL's default).
	Synchronous bool
}

// NewPGCluster starts a primary (initdb) and a standby streaming from it
// (pg_basebackup -R), both empty but for the postgres database, with trust
// authentication on loopback. It needs the server binaries
// (/usr/lib/postgresql/<version>/bin, the highest version found) and is
// gated like Postgres on FINDASH_TEST_POSTGRES_URL, which says this machine
// runs PostgreSQL tests: it skips tb when the variable or the binaries are
// missing (failing it when FINDASH_TEST_REQUIRE=1). Run as root, the servers
// run as the postgres OS user (initdb refuses root), as .ci/pg-replica.sh
// does.
func NewPGCluster(tb testing.TB, opts PGClusterOptions) *PGCluster {
	tb.Helper()
	PostgresURL(tb)
	bin := pgBinDir()
	if bin == "" {
		Skip(tb, "no PostgreSQL server binaries (initdb, postgres, pg_basebackup, pg_ctl) under /usr/lib/postgresql/*/bin")
	}
	cred, owner := pgCredential(tb)

	primary := newPGServer(tb, bin, cred, owner)
	primary.run(tb, "initdb", "-D", primary.Dir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
	var extra []string
	if opts.Synchronous {
		extra = []string{"-c", "synchronous_standby_names=*", "-c", "synchronous_commit=on"}
	}
	primary.start(tb, extra...)

	standby := newPGServer(tb, bin, cred, owner)
	standby.run(tb, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", standby.Dir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	standby.start(tb)
	c := &PGCluster{Primary: primary, Standby: standby}
	if opts.Synchronous {
		// Until the standby's WAL receiver has connected the primary
		// counts it as "potential", and a commit waits for it anyway;
		// wait so that the first commits are not slowed by the start.
		Eventually(tb, 30*time.Second, func() bool {
			var n int
			return primary.QueryRow("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'", &n) == nil && n == 1
		}, "the standby never became the primary's synchronous standby")
	}
	return c
}

// pgBinDir returns the newest /usr/lib/postgresql/<version>/bin holding
// the server binaries, or "".
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "postgres", "pg_basebackup", "pg_ctl"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	return ""
}

// pgCredential returns the credential of the postgres OS user and its uid
// and gid when this process is root (nil and -1 otherwise: the servers run
// as this user).
func pgCredential(tb testing.TB) (*syscall.Credential, [2]int) {
	tb.Helper()
	if os.Geteuid() != 0 {
		return nil, [2]int{-1, -1}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Skip(tb, "running as root and there is no postgres OS user to run PostgreSQL servers as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, [2]int{uid, gid}
}

// newPGServer makes an empty data directory (removed when tb ends) and
// picks a port.
func newPGServer(tb testing.TB, bin string, cred *syscall.Credential, owner [2]int) *PGServer {
	tb.Helper()
	// Not tb.TempDir: its parent is root's 0700 directory, which the
	// postgres user could not enter.
	dir, err := os.MkdirTemp("", "findash-pgcluster-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) }) // registered first: runs after the server's stop
	if owner[0] >= 0 {
		if err := os.Chown(dir, owner[0], owner[1]); err != nil {
			tb.Fatal(err)
		}
	}
	return &PGServer{Port: FreePort(tb), Dir: dir, tb: tb, bin: bin, cred: cred}
}

// command is bin/name args, run as the server's OS user.
func (s *PGServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// run runs one of the server binaries to completion, failing tb with its
// output if it fails.
func (s *PGServer) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// start runs the postmaster on s.Dir, waits until it accepts connections and arranges
// for it to be killed when tb ends. The settings keep it small: a test
// cluster needs few connections and little memory. A standby whose primary
// is gone retries its WAL sources every wal_retrieve_retry_interval (5 s
// by default), and PostgreSQL 15 acts on a promotion only at the next
// retry: pg_ctl promote took 5.0 s or 0.1 s by chance, 0.1-0.3 s with
// 200ms.
func (s *PGServer) start(tb testing.TB, extra ...string) {
	tb.Helper()
	args := []string{"-D", s.Dir,
		"-c", "port=" + strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.Dir, "-c", "max_connections=60",
		"-c", "shared_buffers=16MB", "-c", "logging_collector=off",
		"-c", "wal_sender_timeout=5s", "-c", "wal_receiver_status_interval=1s",
		"-c", "wal_retrieve_retry_interval=200ms"}
	cmd := s.command("postgres", append(args, extra...)...)
	// Killed with this process (a test binary that panics or times out
	// skips its cleanups); its children exit when they see it gone.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	s.log = &bytes.Buffer{}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }()
	tb.Cleanup(func() {
		s.Kill()
		if tb.Failed() {
			tb.Logf("postgres on port %d (%s) logged:\n%s", s.Port, s.Dir, s.log)
		}
	})
	if !WaitFor(30*time.Second, func() bool {
		select {
		case <-s.done:
			return true
		default:
		}
		return s.ping() == nil
	}) || s.exited() {
		s.Kill()
		tb.Fatalf("postgres on port %d did not accept connections:\n%s", s.Port, s.log)
	}
}

// exited reports whether the postmaster has exited.
func (s *PGServer) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// URL is the server's URL for database db.
func (s *PGServer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// ping connects to the postgres database.
func (s *PGServer) ping() error {
	var one int
	return s.QueryRow("SELECT 1", &one)
}

// QueryRow runs sql on the postgres database over a connection of its own
// (bounded by 5 s) and scans its one row into dst.
func (s *PGServer) QueryRow(sql string, dst ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return c.QueryRow(ctx, sql).Scan(dst...)
}

// Kill sends SIGKILL to the postmaster and to every process it forked (its
// backends, WAL writer, WAL sender or receiver) — a crash, with no
// shutdown checkpoint and no goodbye to clients — and waits for the
// postmaster to be gone. It is a no-op once the server has exited.
//
// The children are found by their parent pid, with the postmaster stopped
// (SIGSTOP) so that it forks none in between: each PostgreSQL child makes
// itself a session leader, so the postmaster's process group is only the
// postmaster, and children left alive would notice its death and close
// their connections one by one, a gentler end than a crash.
//
// The postmaster is signalled through its os.Process (a pidfd), not its
// pid: once cmd.Wait has reaped it the pid may name another process. Each
// child is opened (os.FindProcess, a pidfd too) while the stopped
// postmaster cannot reap it, so its handle names that child.
func (s *PGServer) Kill() {
	if s.cmd == nil || s.exited() {
		return
	}
	p := s.cmd.Process
	if err := p.Signal(syscall.SIGSTOP); errors.Is(err, os.ErrProcessDone) {
		<-s.done
		return
	}
	children := childPIDs(p.Pid)
	for _, pid := range children {
		if child, err := os.FindProcess(pid); err == nil {
			child.Signal(syscall.SIGKILL)
			child.Release()
		}
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.tb.Errorf("kill postgres %d: %v", p.Pid, err)
	}
	<-s.done
	// SIGKILL is delivered asynchronously: return once none runs.
	if !WaitFor(5*time.Second, func() bool { return !slices.ContainsFunc(children, running) }) {
		s.tb.Errorf("processes of postgres %d still running 5 s after SIGKILL", p.Pid)
	}
}

// running reports whether process pid exists and is not a zombie (a
// killed child of a killed postmaster waits as one for whoever reaps
// orphans here).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !bytes.Contains(b[bytes.LastIndexByte(b, ')'):], []byte(") Z "))
}

// childPIDs returns the processes whose parent is pid (from /proc).
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses,
		// so read after the last ')'.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// Promote ends the standby's recovery (pg_ctl promote, waiting up to 30 s
// for it to finish): from then on it accepts writes.
func (s *PGServer) Promote() error {
	if out, err := s.command("pg_ctl", "promote", "-D", s.Dir, "-w", "-t", "30").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl promote: %w: %s", err, out)
	}
	return nil
}
