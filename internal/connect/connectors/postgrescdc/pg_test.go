package postgrescdc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgServer is a throw-away PostgreSQL server with logical replication on,
// run by the test on a loopback port and stopped in t.Cleanup.
type pgServer struct {
	port int
	dir  string
}

// pgBin finds a PostgreSQL binary on PATH or under Debian's versioned
// directories.
func pgBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

// startPG starts a server, or skips (fails with FJORD_REQUIRE_CLIENTS=1)
// when PostgreSQL is not installed.
func startPG(t *testing.T) *pgServer {
	t.Helper()
	initdb, pgctl := pgBin("initdb"), pgBin("pg_ctl")
	if initdb == "" || pgctl == "" {
		msg := "PostgreSQL's initdb and pg_ctl not found (PATH, /usr/lib/postgresql/*/bin): install postgresql to run the CDC tests"
		if os.Getenv("FJORD_REQUIRE_CLIENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	root := os.Getuid() == 0
	var uid, gid int
	if root {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (PostgreSQL refuses root): %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	dir, err := os.MkdirTemp("", "fjord-pgcdc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if root {
		// The postgres user must reach and own its data directory.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(d, st.Mode().Perm()|0o001)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if root {
			args = append([]string{"-u", "postgres", "--", name}, args...)
			name = "runuser"
		}
		return exec.CommandContext(ctx, name, args...).CombinedOutput()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := filepath.Join(dir, "data")
	if out, err := run(ctx, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4 -c fsync=off", port, dir)
	if out, err := run(ctx, pgctl, "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		logText, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, logText)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if out, err := run(sctx, pgctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	return &pgServer{port: port, dir: dir}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// exec runs SQL statements in the postgres database.
func (p *pgServer) exec(t *testing.T, sql ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", p.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", strings.TrimSpace(s), err)
		}
	}
}

// props is a connector configuration for the server.
func (p *pgServer) props(kv ...string) map[string]string {
	m := map[string]string{
		KeyHostname: "127.0.0.1", KeyPort: strconv.Itoa(p.port), KeyUser: "postgres", KeyDBName: "postgres",
		KeySSLMode: "disable", KeyTopicPrefix: "srv", KeyStatusInterval: "200",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// count returns the first column of a query's first row, as text.
func (p *pgServer) count(t *testing.T, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", p.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res := conn.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) == 0 {
		t.Fatalf("%s: %v (%d rows)", sql, res.Err, len(res.Rows))
	}
	return string(res.Rows[0][0])
}
