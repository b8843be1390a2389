package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageRandomUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		r := runFjord(t, "", "storage", "random-uuid")
		id := strings.TrimSpace(r.stdout)
		b, err := base64.RawURLEncoding.DecodeString(id)
		if r.code != ExitOK || err != nil || len(b) != 16 || len(id) != 22 || strings.HasPrefix(id, "-") {
			t.Fatalf("random-uuid printed %q (exit %d, %v): want 22 characters of URL-safe base64, 16 bytes", r.stdout, r.code, err)
		}
		if b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Errorf("%q is not a version 4 RFC 4122 UUID", id)
		}
		if seen[id] {
			t.Fatalf("random-uuid repeated %q", id)
		}
		seen[id] = true
	}
	var out map[string]string
	decode(t, runFjord(t, "", "storage", "random-uuid", "-o", "json").stdout, &out)
	if len(out["uuid"]) != 22 {
		t.Errorf("JSON = %v", out)
	}
}

func TestStorageFormat(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeConfig := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := writeConfig("server.properties", "node.id=3\nlog.dirs="+a+","+b+"\n")
	other := writeConfig("other.properties", "node.id=4\nlog.dirs="+a+"\n")
	pinned := writeConfig("pinned.properties", "node.id=3\ncluster.id=AAAAAAAAAAAAAAAAAAAAAQ\nlog.dirs="+a+"\n")
	const id, id2 = "mR7EkRIERB6CBt64gCo1zw", "C7Ar_Q6kSxC5xFDNNQIc2g"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"format two folders", []string{"-t", id, "-c", cfg}, ExitOK,
			[]string{"Formatted " + a + ": cluster.id=" + id + " node.id=3", "Formatted " + b + ": "}, nil},
		{"already formatted", []string{"--cluster-id", id, "--config", cfg}, ExitError,
			nil, []string{"already formatted for this cluster and node; pass --ignore-formatted"}},
		{"already formatted, ignored", []string{"-t", id, "-c", cfg, "--ignore-formatted"}, ExitOK,
			[]string{a + " is already formatted: cluster.id=" + id + " node.id=3"}, nil},
		{"another cluster", []string{"-t", id2, "-c", cfg, "--ignore-formatted"}, ExitError,
			nil, []string{"is formatted for cluster.id=" + id + " node.id=3, not cluster.id=" + id2 + " node.id=3; refusing"}},
		{"another node", []string{"-t", id, "-c", other, "-g"}, ExitError,
			nil, []string{"node.id=3, not cluster.id=" + id + " node.id=4"}},
		{"config pins another cluster", []string{"-t", id, "-c", pinned}, ExitError,
			nil, []string{"sets cluster.id=AAAAAAAAAAAAAAAAAAAAAQ, but --cluster-id is " + id}},
		{"not a UUID", []string{"-t", "abc", "-c", cfg}, ExitUsage, nil, []string{"not a UUID in Kafka's form"}},
		{"zero UUID", []string{"-t", "AAAAAAAAAAAAAAAAAAAAAA", "-c", cfg}, ExitUsage, nil, []string{"zero UUID"}},
		{"no config", []string{"-t", id}, ExitUsage, nil, []string{"--cluster-id and --config are required"}},
		{"missing config file", []string{"-t", id, "-c", filepath.Join(dir, "nope")}, ExitError, nil, []string{"config: open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFjord(t, "", append([]string{"storage", "format"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			mustContain(t, "stdout", r.stdout, tt.stdout...)
			mustContain(t, "stderr", r.stderr, tt.stderr...)
		})
	}
	for _, d := range []string{a, b} {
		got, err := os.ReadFile(filepath.Join(d, "meta.properties"))
		if err != nil {
			t.Fatal(err)
		}
		want := "#Written by Fjord. Do not edit.\nversion=1\nnode.id=3\ncluster.id=" + id + "\n"
		mustEqual(t, d+"/meta.properties", want, string(got))
	}

	// Nothing is written unless every folder can be: c is fresh, a is not.
	c := filepath.Join(dir, "c")
	mixed := writeConfig("mixed.properties", "node.id=3\nlog.dirs="+c+","+a+"\n")
	if r := runFjord(t, "", "storage", "format", "-t", id2, "-c", mixed); r.code != ExitError {
		t.Fatalf("mixed folders: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(c, "meta.properties")); err == nil {
		t.Errorf("%s was formatted although %s refused", c, a)
	}
	var out []formatJSON
	decode(t, runFjord(t, "", "storage", "format", "-t", id, "-c", writeConfig("c.properties", "node.id=3\nlog.dir="+c+"\n"), "-o", "json").stdout, &out)
	mustEqual(t, "JSON", []formatJSON{{Dir: c, NodeID: 3, ClusterID: id, Result: "formatted"}}, out)
}
