package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStart starts a server, connects, and checks logical decoding is on
// (the CDC connector relies on it).
func TestStart(t *testing.T) {
	url := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		t.Fatalf("wal_level = %q, want logical", level)
	}
}

// TestHelperServer is not a test of its own: TestStart_SweepsADeadTestsServer
// runs the test binary on it to start a server and die without cleanup.
func TestHelperServer(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") != "1" {
		t.Skip("helper process only")
	}
	fmt.Println("URL", Start(t))
	time.Sleep(time.Minute) // killed long before
}

// A test process killed before its cleanup leaves its server running; the
// next Start stops it and removes its folder.
func TestStart_SweepsADeadTestsServer(t *testing.T) {
	if _, err := findBin(); err != nil {
		Start(t) // skips, or fails under FJORD_REQUIRE_CLIENTS=1
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperServer$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("the helper started no server")
	}
	owner := processID(cmd.Process.Pid)
	var dir string
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), folderPrefix+"*"))
	more, _ := filepath.Glob(filepath.Join("/tmp", folderPrefix+"*"))
	for _, d := range append(dirs, more...) {
		if b, _ := os.ReadFile(filepath.Join(d, ownerFile)); string(b) == owner {
			dir = d
		}
	}
	if dir == "" {
		t.Fatalf("no server folder owned by the helper (%s)", owner)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, url); err != nil {
		t.Fatalf("the dead helper's server should still run before the sweep: %v", err)
	} else {
		conn.Close(ctx)
	}
	Start(t) // sweeps
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the dead helper's folder %s is still there: %v", dir, err)
	}
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("the dead helper's server still answers after the sweep")
	}
}
