// Package lint holds lint-as-test checks of the source tree: the import
// layering of docs/architecture.md, the file-length limit, package doc
// comments, and banned calls. They run with `go test ./...`, so the rules
// cannot drift from the code.
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fjordstream/fjord"

// maxFileLines is the house limit for a source file.
const maxFileLines = 800

// layer ranks internal packages: a package may import only packages of a
// strictly lower rank (same-rank imports are refused too, keeping concerns
// apart). Every internal package with non-test code must be listed
// (TestLint_EveryPackageRanked), so a new package takes its place here.
var layer = map[string]int{
	"internal/config":        0,
	"internal/record":        0,
	"internal/vfs":           0,
	"internal/budget":        0,
	"internal/loglimit":      0,
	"internal/quota":         0,
	"internal/metrics":       0, // the registry and the HTTP listener; components define their own metrics
	"internal/netserve":      1,
	"internal/kconn":         1, // a Kafka connection between brokers
	"internal/log":           1,
	"internal/metadata":      1,
	"internal/coordinator":   1,
	"internal/group":         4,
	"internal/txn":           2, // the transaction coordinator's state machine, on the coordinator runtime
	"internal/protocol":      3,
	"internal/partition":     2,
	"internal/controller":    4,
	"internal/replication":   4,
	"internal/server":        5,
	"internal/node":          6,
	"internal/bench":         1,
	"internal/assignor":      0,
	"internal/balance":       0, // pure planner: the CLI and the controller share it
	"internal/consumergroup": 1,
	"internal/cli":           2,
	"internal/console":       3, // the web console: a Kafka client, like cli, and a Connect REST client
	// Fjord Connect: the core API, then what implements it, then the
	// runtime that runs them (a Kafka client only).
	"internal/connect":                            1,
	"internal/connect/convert":                    2,
	"internal/connect/transform":                  2,
	"internal/connect/rest":                       2,
	"internal/connect/connectors/file":            2,
	"internal/connect/connectors/datagen":         2,
	"internal/connect/connectors/http":            3, // writes JSON with convert's JsonConverter
	"internal/connect/connectors/postgres":        2,
	"internal/connect/connectors/postgres/pgtest": 2,
	"internal/connect/connectors/postgrescdc":     2,
	"internal/connect/runtime":                    3,
	"internal/connect/distributed":                2,
	"internal/connect/storage":                    3,
	"internal/connect/workergroup":                3,
	"internal/connect/herder":                     4,
	"internal/connect/plugins":                    4,
	"internal/connect/standalone":                 5,
	"internal/connect/cluster":                    5,
	// Test harness and tools: above everything they drive.
	"internal/fjordtest":             7,
	"internal/fjordtest/kfakebroker": 8,
}

// clientOnly packages reach brokers only through kgo/kadm.
var clientOnly = map[string]bool{"internal/cli": true, "internal/console": true, "internal/bench": true, "internal/connect/runtime": true, "internal/connect/storage": true, "internal/connect/workergroup": true, "internal/connect/herder": true, "internal/connect/plugins": true, "internal/connect/standalone": true, "internal/connect/cluster": true}

type goFile struct {
	path string // relative to the module root
	pkg  string // package folder relative to the module root
	ast  *ast.File
	test bool
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func parseTree(t *testing.T) []goFile {
	root := moduleRoot(t)
	var files []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, goFile{path: rel, pkg: filepath.Dir(rel), ast: f, test: strings.HasSuffix(path, "_test.go")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestLint_ImportLayering(t *testing.T) {
	for _, f := range parseTree(t) {
		if f.test {
			continue
		}
		from, ranked := layer[f.pkg]
		for _, imp := range f.ast.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "log" {
				t.Errorf("%s imports the standard log package; use log/slog", f.path)
			}
			if !strings.HasPrefix(p, module+"/") {
				continue
			}
			to := strings.TrimPrefix(p, module+"/")
			// Client packages may use the other client-side packages
			// (Connect's are all client side), never the broker's.
			if clientOnly[f.pkg] && to != "internal/bench" && to != "internal/config" && to != "internal/balance" && to != "internal/metrics" &&
				to != "internal/connect" && !strings.HasPrefix(to, "internal/connect/") {
				t.Errorf("%s (a client package) imports %s; clients reach brokers only through kgo/kadm", f.path, to)
			}
			if to == "internal/node" && f.pkg != "." && f.pkg != "cmd/fjord" {
				t.Errorf("%s imports internal/node; only the fjord package and cmd/fjord may", f.path)
			}
			if to == "internal/server" && f.pkg != "internal/node" {
				t.Errorf("%s imports internal/server; only internal/node may", f.path)
			}
			if to == "internal/cli" && f.pkg != "cmd/fjord" {
				t.Errorf("%s imports internal/cli; only cmd/fjord may", f.path)
			}
			if rank, ok := layer[to]; ranked && ok && rank >= from {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", f.path, from, to, rank)
			}
		}
	}
}

func TestLint_EveryPackageRanked(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range parseTree(t) {
		if f.test || !strings.HasPrefix(f.pkg, "internal/") || seen[f.pkg] {
			continue
		}
		seen[f.pkg] = true
		if _, ok := layer[f.pkg]; !ok {
			t.Errorf("package %s has no rank in the lint test's layer table: give it one, so its imports are checked", f.pkg)
		}
	}
}

func TestLint_FileLength(t *testing.T) {
	root := moduleRoot(t)
	for _, f := range parseTree(t) {
		b, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines; the limit is %d: split it by concern", f.path, n, maxFileLines)
		}
	}
}

func TestLint_PackageDocs(t *testing.T) {
	documented := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range parseTree(t) {
		if strings.HasSuffix(f.ast.Name.Name, "_test") {
			continue
		}
		seen[f.pkg] = true
		if f.ast.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.ast.Doc.Text()), "Package "+f.ast.Name.Name) ||
			f.ast.Name.Name == "main" && f.ast.Doc != nil {
			documented[f.pkg] = true
		}
	}
	for pkg := range seen {
		if !documented[pkg] {
			t.Errorf("package %s has no package doc comment (\"// Package x ...\" saying what it is for and the invariant it keeps)", pkg)
		}
	}
}
