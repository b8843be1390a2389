package config

import (
	"strings"
	"testing"
)

// cordoned.log.dirs is a per-broker dynamic list: "*" alone or log
// directories; APPEND and SUBTRACT work on it; any value cordons the broker.
func TestCordonedLogDirs(t *testing.T) {
	k, ok := Registry().Lookup(CordonedLogDirs)
	if !ok || !k.BrokerDynamic() || k.Type != TypeList || k.Default != "" {
		t.Fatalf("registry entry: %+v", k)
	}
	out, err := IncrementalAlterBroker(nil, []AlterOp{{Key: CordonedLogDirs, Op: OpSet, Value: CordonAll}})
	if err != nil || !Cordoned(out) {
		t.Fatalf("set *: %v %v", out, err)
	}
	out, err = IncrementalAlterBroker(nil, []AlterOp{{Key: CordonedLogDirs, Op: OpAppend, Value: "/data/a"}})
	if err != nil || out[CordonedLogDirs] != "/data/a" || !Cordoned(out) {
		t.Fatalf("append: %v %v", out, err)
	}
	out, err = IncrementalAlterBroker(out, []AlterOp{{Key: CordonedLogDirs, Op: OpSubtract, Value: "/data/a"}})
	if err != nil || Cordoned(out) {
		t.Fatalf("subtract: %v %v", out, err)
	}
	out, err = IncrementalAlterBroker(map[string]string{CordonedLogDirs: "*"}, []AlterOp{{Key: CordonedLogDirs, Op: OpDelete}})
	if err != nil || Cordoned(out) || len(out) != 0 {
		t.Fatalf("delete: %v %v", out, err)
	}
	for _, v := range []string{"*,/data/a", "/a,/a", "/a,,/b"} {
		if _, err := IncrementalAlterBroker(nil, []AlterOp{{Key: CordonedLogDirs, Op: OpSet, Value: v}}); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if Cordoned(nil) || Cordoned(map[string]string{CordonedLogDirs: " "}) {
		t.Error("an empty value cordons")
	}
}

// A static value would do nothing (the controller reads the dynamic one):
// it is ignored with a warning.
func TestCordonedLogDirs_StaticIgnored(t *testing.T) {
	b, warnings, err := LoadBroker(map[string]string{CordonedLogDirs: "*"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], CordonedLogDirs) {
		t.Errorf("warnings = %q", warnings)
	}
	if _, ok := b.Value(CordonedLogDirs); ok {
		t.Error("the static value was kept")
	}
}
