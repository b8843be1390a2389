package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

// newConsumerGroupCmd is the `group` noun: kafka-consumer-groups.sh's
// actions as subcommands. (newGroupCmd is the generic noun builder.)
func newConsumerGroupCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("group", "List, describe, delete consumer groups and reset their offsets", "groups")
	cmd.AddCommand(
		newGroupListCmd(g),
		newGroupDescribeCmd(g),
		newGroupDeleteCmd(g),
		newGroupResetOffsetsCmd(g),
	)
	return cmd
}

// groupStates are the group states Kafka reports, in its spelling; --state
// accepts them in any case, as kafka-consumer-groups.sh does.
func groupStates() []string {
	return []string{"Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead", "Assigning", "Reconciling"}
}

// canonicalState returns Kafka's spelling of state s, or false.
func canonicalState(s string) (string, bool) {
	for _, st := range groupStates() {
		if strings.EqualFold(st, strings.TrimSpace(s)) {
			return st, true
		}
	}
	return "", false
}

// groupErr wraps a failed group operation with a hint for the group errors
// the shared hintFor does not know.
func groupErr(op string, err error, detail string) *cmdError {
	e := opErr(op, err, detail)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		e.hint = "list groups with `fjord group list`"
	case errors.Is(err, kerr.NonEmptyGroup):
		e.hint = "the group has active members; stop its consumers first (see `fjord group describe GROUP`)"
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		e.hint = "the principal lacks the ACL for this group"
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.NotCoordinator):
		e.hint = "the group coordinator is not ready; retry in a moment"
	}
	return e
}

// groupNotFound is the error for a group the broker does not know.
func groupNotFound(group string) *cmdError {
	return groupErr(fmt.Sprintf("consumer group %q", group), kerr.GroupIDNotFound, "the group does not exist")
}

// dedup returns names without repeats, in first-seen order.
func dedup(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// int64Ptr returns a pointer to v, for nullable JSON numbers.
func int64Ptr(v int64) *int64 { return &v }

// optInt64 prints a nullable number, "-" for none (Kafka's tool does the same).
func optInt64(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}
