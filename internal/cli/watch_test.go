package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// --watch describes again every --watch-interval until the context ends
// (a signal, in Execute), and exits 0; with --output json, one document a
// round.
func TestWatch_RoundsUntilInterrupted(t *testing.T) {
	e := newEnv(t, 2, "watched")
	for _, tc := range []struct {
		args []string
		json bool
	}{
		{[]string{"topic", "describe", e.name("watched"), "--watch", "--watch-interval", "150ms"}, false},
		{[]string{"topic", "describe", e.name("watched"), "-w", "--watch-interval", "150ms", "--output", "json"}, true},
		{[]string{"group", "describe", e.name("nobody"), "--watch", "--watch-interval", "150ms"}, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		var out, errb bytes.Buffer
		code := ExecuteContext(ctx, NewRoot(), append([]string{"--bootstrap-server", e.addr}, tc.args...), &out, &errb)
		cancel()
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errb.String())
		}
		rounds := strings.Count(out.String(), "--- ")
		if tc.json {
			dec := json.NewDecoder(&out)
			rounds = 0
			for dec.More() {
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("%v: round %d is not JSON: %v", tc.args, rounds, err)
				}
				rounds++
			}
		}
		if rounds < 2 {
			t.Fatalf("%v: %d rounds in 700 ms at 150 ms:\n%s", tc.args, rounds, out.String())
		}
	}
	if r := e.run("", "topic", "describe", "--watch", "--watch-interval", "0s"); r.code != ExitUsage {
		t.Fatalf("--watch-interval 0: exit %d", r.code)
	}
}
