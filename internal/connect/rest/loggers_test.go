package rest

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

func TestLevels_Hierarchy(t *testing.T) {
	l := NewLevels(slog.LevelInfo)
	l.now = func() time.Time { return time.UnixMilli(42) }
	l.Var("a.b")
	abc := l.Var("a.b.c")
	abx := l.Var("a.bx")
	if abc.Level() != slog.LevelInfo {
		t.Fatalf("a new logger starts at its ancestor's level; got %v", abc.Level())
	}
	// A namespace reaches its descendants, not names that merely share
	// a prefix, and a new namespace becomes a logger.
	if got := l.SetLevel("a", slog.LevelDebug); !slices.Equal(got, []string{"a", "a.b", "a.b.c", "a.bx"}) {
		t.Fatalf("affected %v", got)
	}
	if got := l.SetLevel("a.b", LevelTrace); !slices.Equal(got, []string{"a.b", "a.b.c"}) {
		t.Fatalf("affected %v", got)
	}
	if abc.Level() != LevelTrace || abx.Level() != slog.LevelDebug {
		t.Fatalf("levels a.b.c %v a.bx %v", abc.Level(), abx.Level())
	}
	// A new logger under a.b inherits TRACE.
	if v := l.Var("a.b.d"); v.Level() != LevelTrace {
		t.Fatalf("a.b.d at %v", v.Level())
	}
	lv, ok := l.Level("a.b.c")
	if !ok || lv.Level != "TRACE" || lv.LastModified == nil || *lv.LastModified != 42 {
		t.Fatalf("a.b.c %+v %v", lv, ok)
	}
	if lv, _ := l.Level(RootLogger); lv.LastModified != nil {
		t.Fatalf("root never set but has last_modified %v", *lv.LastModified)
	}
	if got := l.SetLevel(RootLogger, slog.LevelError); len(got) != 6 || got[len(got)-1] != RootLogger {
		t.Fatalf("root affected %v", got)
	}
	if abx.Level() != slog.LevelError {
		t.Fatalf("root did not reach a.bx: %v", abx.Level())
	}
}

func TestLevelNames(t *testing.T) {
	for _, name := range []string{"OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"} {
		l, ok := ParseLevel(name)
		if !ok || LevelName(l) != name {
			t.Errorf("%s: parsed %v %v, named %s", name, l, ok, LevelName(l))
		}
	}
	if _, ok := ParseLevel("LOUD"); ok {
		t.Error("LOUD parsed")
	}
	if LevelName(slog.LevelInfo+1) != "INFO" || LevelName(slog.LevelDebug-1) != "TRACE" {
		t.Error("levels between names take the more verbose name")
	}
}
