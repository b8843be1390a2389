// Package pgtest starts a private, throwaway PostgreSQL server for tests:
// initdb in a temporary folder, the server on a free loopback port with
// logical decoding enabled (for CDC tests), stopped and removed when the
// test ends.
//
// Invariant: the server listens only on 127.0.0.1 and a socket folder of
// its own, trusts local connections, and never outlives the test that
// started it: a test binary killed before its cleanup leaves its server
// running, and the next Start stops it (each folder names the process
// that made it). Missing binaries skip the test, unless
// FJORD_REQUIRE_CLIENTS=1 (CI), where they fail it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stepTimeout bounds each of initdb, pg_ctl start and pg_ctl stop.
const stepTimeout = 2 * time.Minute

// Start starts a PostgreSQL server for t and returns a URL to connect to
// it as the superuser postgres (database postgres, no password, no TLS).
// The server is stopped and its folder removed in t.Cleanup.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv("FJORD_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("pgtest: PostgreSQL is required (FJORD_REQUIRE_CLIENTS=1): %v", err)
		}
		t.Skipf("pgtest: SKIPPING, PostgreSQL server binaries not found (install the Debian postgresql package; FJORD_REQUIRE_CLIENTS=1 makes this a failure): %v", err)
	}
	asRoot := os.Getuid() == 0
	var uid, gid int
	if asRoot {
		uid, gid, err = postgresUser()
		if err != nil {
			t.Fatalf("pgtest: running as root, PostgreSQL needs the postgres user: %v", err)
		}
	}
	// Not t.TempDir: its parents are 0700 root, which the postgres user
	// could not traverse.
	base := os.TempDir()
	if asRoot && !traversable(base) {
		base = "/tmp" // TMPDIR is private to root: /tmp is world-traversable
	}
	if asRoot && !traversable(base) {
		t.Fatalf("pgtest: %s or one of its parents is not traversable by others, so the postgres user cannot reach the server's folder", base)
	}
	sweep(t, base, bin, asRoot)
	root, err := os.MkdirTemp(base, folderPrefix)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(processID(os.Getpid())), 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	data, sock, logf := filepath.Join(root, "data"), filepath.Join(root, "sock"), filepath.Join(root, "server.log")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	if asRoot {
		for _, p := range []string{root, data, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatalf("pgtest: chown %s: %v", p, err)
			}
		}
	}
	run := func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		prog := filepath.Join(bin, name)
		var cmd *exec.Cmd
		if asRoot {
			cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
		} else {
			cmd = exec.CommandContext(ctx, prog, args...)
		}
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, sock)
		err = run("pg_ctl", "-D", data, "-l", logf, "-o", opts, "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		// The free port may have been taken between the probe and the
		// server's bind: try another a few times.
		if attempt >= 2 {
			log, _ := os.ReadFile(logf)
			t.Fatalf("pgtest: %v\nserver log:\n%s", err, log)
		}
	}
	t.Cleanup(func() {
		if err := run("pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"); err != nil {
			t.Logf("pgtest: stopping the server: %v", err)
		}
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// A server's folder is folderPrefix followed by a random suffix, and its
// ownerFile names the test process that made it (processID).
const (
	folderPrefix = "fjord-pgtest-"
	ownerFile    = "owner"
)

// processID names a live process so that a reused PID is not mistaken for
// it: the PID and its start time (field 22 of /proc/PID/stat); "" when
// the process does not exist or /proc is missing.
func processID(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing one.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, f[19]) // field 22 is the 20th after the name
}

// sweep stops and removes the servers of earlier test processes that died
// before their cleanup (SIGKILLed, or timed out): their owner process is
// gone. Servers of live test processes, and folders without an owner
// file, are left alone.
func sweep(t testing.TB, base, bin string, asRoot bool) {
	if processID(os.Getpid()) == "" {
		return // no /proc: owners cannot be checked
	}
	dirs, _ := filepath.Glob(filepath.Join(base, folderPrefix+"*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pidText, _, _ := strings.Cut(string(owner), " ")
		pid, err := strconv.Atoi(pidText)
		if err != nil || processID(pid) == string(owner) {
			continue // unreadable, or its owner is alive
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		args := []string{"-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "-t", "60", "stop"}
		prog := filepath.Join(bin, "pg_ctl")
		cmd := exec.CommandContext(ctx, prog, args...)
		if asRoot {
			cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
		}
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil && !strings.Contains(string(out), "Is server running?") {
			t.Logf("pgtest: stopping the server a dead test process left in %s: %v\n%s", dir, err, out)
			continue
		}
		t.Logf("pgtest: stopped and removed the server a dead test process (%s) left in %s", strings.TrimSpace(string(owner)), dir)
		os.RemoveAll(dir)
	}
}

// findBin returns the folder holding initdb, pg_ctl and postgres: where
// PATH finds initdb, else the newest /usr/lib/postgresql/*/bin (Debian
// keeps them off PATH).
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, n := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no initdb, pg_ctl and postgres on PATH or in /usr/lib/postgresql/*/bin")
}

// version is the major version in /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// postgresUser returns the uid and gid of the postgres user, which the
// Debian package creates.
func postgresUser() (int, int, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("gid %q: %w", u.Gid, err)
	}
	return uid, gid, nil
}

// traversable reports whether every folder from dir up to / lets others
// in (the x bit for others), as the postgres user needs.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
