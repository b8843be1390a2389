package postgrescdc

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fjordstream/fjord/internal/connect/connectors/postgres/pgtest"
)

// pgServer is a throw-away PostgreSQL server with logical replication on,
// run by the test on a loopback port and stopped in t.Cleanup.
type pgServer struct {
	port int
}

// startPG starts a throw-away PostgreSQL server (logical replication on)
// with pgtest, which skips, or fails with FJORD_REQUIRE_CLIENTS=1, when
// PostgreSQL is not installed.
func startPG(t *testing.T) *pgServer {
	t.Helper()
	u, err := url.Parse(pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("pgtest's URL %s: %v", u, err)
	}
	return &pgServer{port: port}
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
