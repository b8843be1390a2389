package fjordtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Target names the broker implementation the e2e tests run against.
type Target string

const (
	// TargetFjord is the real broker, built from ./cmd/fjord. The default.
	TargetFjord Target = "fjord"
	// TargetKfake is franz-go's kfake behind the same process contract
	// (./internal/fjordtest/kfakebroker); it checks the tests, not Fjord.
	TargetKfake Target = "kfake"
)

// TargetEnv is the environment variable that selects the Target.
const TargetEnv = "FJORD_E2E_TARGET"

// BinEnv names a prebuilt broker binary to use instead of building one.
const BinEnv = "FJORD_BIN"

// buildTimeout bounds one `go build`; a cold build of the broker on a busy
// 2-core machine takes well under this.
const buildTimeout = 5 * time.Minute

// CurrentTarget returns the Target selected by FJORD_E2E_TARGET, failing the
// test on an unknown value so a typo never silently tests the wrong thing.
func CurrentTarget(t testing.TB) Target {
	t.Helper()
	switch v := os.Getenv(TargetEnv); v {
	case "", string(TargetFjord):
		return TargetFjord
	case string(TargetKfake):
		return TargetKfake
	default:
		t.Fatalf("%s=%q: want %q or %q", TargetEnv, v, TargetFjord, TargetKfake)
		return ""
	}
}

// binaryCache holds the binaries built by this test process. It is the one
// piece of package-level state: a build must be shared by every test in the
// binary, and its directory must outlive any single test, so it lives until
// Main removes it.
type binaryCache struct {
	mu         sync.Mutex
	mainActive bool
	dir        string
	builds     map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

var cache = &binaryCache{builds: map[string]*build{}}

// Main runs the tests of a package that uses BuildBinary and then deletes the
// built binaries. Call it from TestMain:
//
//	func TestMain(m *testing.M) { fjordtest.Main(m) }
func Main(m *testing.M) {
	cache.mu.Lock()
	cache.mainActive = true
	cache.mu.Unlock()
	code := m.Run()
	cache.mu.Lock()
	if cache.dir != "" {
		if err := os.RemoveAll(cache.dir); err != nil {
			fmt.Fprintf(os.Stderr, "fjordtest: removing %s: %v\n", cache.dir, err)
		}
	}
	cache.mu.Unlock()
	os.Exit(code)
}

// BuildBinary returns the path of the broker binary for the current Target,
// building it on first use (once per test process): ./cmd/fjord by default,
// the kfake stand-in under FJORD_E2E_TARGET=kfake. FJORD_BIN replaces the
// ./cmd/fjord build with a prebuilt binary. The package's TestMain must call
// Main, which removes the built binaries when the tests end.
func BuildBinary(t testing.TB) string {
	t.Helper()
	if CurrentTarget(t) == TargetKfake {
		return buildPackage(t, "./internal/fjordtest/kfakebroker")
	}
	return BuildFjord(t)
}

// BuildFjord returns the path of the real fjord binary whatever the Target:
// its client verbs (topic, cluster, produce, consume) work against any
// Kafka-compatible broker, so CLI tests use it even against the stand-in.
func BuildFjord(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", BinEnv, p, err)
		}
		return p
	}
	return buildPackage(t, "./cmd/fjord")
}

func buildPackage(t testing.TB, pkg string) string {
	t.Helper()
	p, err := cache.get(pkg)
	if err != nil {
		t.Fatalf("build %s: %v", pkg, err)
	}
	return p
}

// get builds pkg once and returns the binary's path, or the error of the one
// build attempt (a broken build fails every caller without rebuilding).
func (c *binaryCache) get(pkg string) (string, error) {
	c.mu.Lock()
	if !c.mainActive {
		c.mu.Unlock()
		return "", errors.New("fjordtest.Main is not running: add `func TestMain(m *testing.M) { fjordtest.Main(m) }` so built binaries are removed")
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "fjordtest-bin-")
		if err != nil {
			c.mu.Unlock()
			return "", fmt.Errorf("temp dir for binaries: %w", err)
		}
		c.dir = d
	}
	b, ok := c.builds[pkg]
	if !ok {
		b = &build{}
		c.builds[pkg] = b
	}
	dir := c.dir
	c.mu.Unlock()

	b.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(dir, filepath.Base(pkg))
		b.err = goBuild(root, pkg, out)
		b.path = out
	})
	return b.path, b.err
}

func goBuild(root, pkg, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go toolchain not on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build -o %s %s (in %s): %w\n%s", out, pkg, root, err, msg)
	}
	return nil
}

// ModuleRoot returns the directory holding go.mod, found by walking up from
// the working directory (go test runs tests in their package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
