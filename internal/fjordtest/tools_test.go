package fjordtest

import (
	"fmt"
	"strings"
	"testing"
)

// outcomeTB records Skip and Fatal calls instead of ending the goroutine.
type outcomeTB struct {
	testing.TB
	skipped, fatal string
}

func (o *outcomeTB) Helper()                           {}
func (o *outcomeTB) Skip(args ...any)                  { o.skipped = fmt.Sprint(args...) }
func (o *outcomeTB) Fatalf(format string, args ...any) { o.fatal = fmt.Sprintf(format, args...) }

func TestRequireTool_MissingTool(t *testing.T) {
	const tool = "fjordtest-no-such-tool"
	tests := []struct {
		require              string
		wantSkip, wantFailed bool
	}{
		{require: "", wantSkip: true},
		{require: "0", wantSkip: true},
		{require: "1", wantFailed: true},
	}
	for _, tt := range tests {
		t.Run("FJORD_REQUIRE_CLIENTS="+tt.require, func(t *testing.T) {
			t.Setenv(RequireClientsEnv, tt.require)
			o := &outcomeTB{TB: t}
			if p := RequireTool(o, tool); p != "" {
				t.Fatalf("RequireTool returned %q for a missing tool", p)
			}
			if got := strings.HasPrefix(o.skipped, "SKIPPING: "+tool+" not installed"); got != tt.wantSkip {
				t.Errorf("skip message %q, want skipped=%v", o.skipped, tt.wantSkip)
			}
			if got := strings.Contains(o.fatal, tool+" is missing"); got != tt.wantFailed {
				t.Errorf("fatal message %q, want failed=%v", o.fatal, tt.wantFailed)
			}
		})
	}
}

func TestRequireTool_FindsShell(t *testing.T) {
	// sh stands in for any tool found on PATH.
	if p := RequireTool(t, "sh"); !strings.HasSuffix(p, "/sh") {
		t.Fatalf("RequireTool(sh) = %q", p)
	}
}
