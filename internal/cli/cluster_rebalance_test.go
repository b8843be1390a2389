package cli

import "testing"

// TestBalanceFlags: misplaced flags are usage errors before any broker is
// asked.
func TestBalanceFlags(t *testing.T) {
	for _, args := range [][]string{
		{"rebalance", "--throttle", "100"},
		{"rebalance", "--progress-interval", "1s"},
		{"rebalance", "--execute", "--throttle", "-1"},
		{"rebalance", "--execute", "--progress-interval", "0s"},
		{"rebalance", "--brokers", "1,x"},
		{"rebalance", "--brokers", "1,1"},
		{"decommission"},
		{"decommission", "x"},
		{"decommission", "1", "2"},
		{"decommission", "1", "--throttle", "5"},
		{"decommission", "1", "--cancel", "--execute"},
		{"decommission", "1", "--cancel", "--topic", "t"},
	} {
		r := runFjord(t, "", append([]string{"-b", "127.0.0.1:1", "--timeout", "2s", "cluster"}, args...)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", args, r.code, ExitUsage, r.stderr)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
