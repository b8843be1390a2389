package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

// usageError marks a wrong command line: Execute prints it with a pointer to
// --help and exits with ExitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err: err} }

// UsageError marks err as a wrong command line, for commands built outside
// this package (cmd/fjord's): Execute then exits with ExitUsage and points
// to --help.
func UsageError(err error) error { return usageErr(err) }

func usagef(format string, a ...any) error { return usageErr(fmt.Errorf(format, a...)) }

// checkArgs wraps a cobra argument validator so its complaints are usage
// errors.
func checkArgs(fn cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return usageErr(err)
		}
		return nil
	}
}

// cmdError is a failed operation: what was being done, the cause (often a
// *kerr.Error), the broker's own message if it sent one, and a hint on what
// to do next.
type cmdError struct {
	op     string // e.g. `create topic "orders"`; may be empty
	err    error
	detail string // the broker's ErrorMessage, if any
	hint   string
}

func (e *cmdError) Error() string {
	var b strings.Builder
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	if e.detail != "" && !strings.Contains(e.err.Error(), e.detail) {
		b.WriteString(" (")
		b.WriteString(e.detail)
		b.WriteString(")")
	}
	return b.String()
}

func (e *cmdError) Unwrap() error { return e.err }

// opErr wraps err as a failure of op, with the broker's message.
func opErr(op string, err error, detail string) *cmdError {
	return &cmdError{op: op, err: err, detail: detail}
}

// run wraps a command body so every error it returns carries a hint when one
// applies; usage errors pass through untouched.
func (g *globals) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil {
			return nil
		}
		if _, ok := errors.AsType[*usageError](err); ok {
			return err
		}
		ce, ok := errors.AsType[*cmdError](err)
		if !ok {
			ce = &cmdError{err: err}
			err = ce
		}
		if ce.hint == "" {
			ce.hint = g.hintFor(err)
		}
		return err
	}
}

// hintFor suggests a next step for the common failures.
func (g *globals) hintFor(err error) string {
	switch {
	case isConnRefused(err):
		return fmt.Sprintf("is a broker running at %s? start one with `fjord server`", g.bootstrap)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return "list topics with `fjord topic list`; create one with `fjord topic create NAME`"
	case errors.Is(err, kerr.TopicAlreadyExists):
		return "pass --if-not-exists to accept an existing topic, or inspect it with `fjord topic describe NAME`"
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return "use a --replication-factor no larger than the number of brokers (see `fjord cluster info`)"
	case errors.Is(err, kerr.InvalidPartitions):
		return "--partitions must be at least 1, and add-partitions can only increase the count"
	case errors.Is(err, kerr.InvalidConfig):
		return "check the config key and value against Kafka's topic configs"
	case errors.Is(err, kerr.PolicyViolation):
		return "the broker's policy rejected the request; see the broker message above"
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return "the principal lacks the ACL for this operation"
	case errors.Is(err, kerr.PreferredLeaderNotAvailable):
		return "the preferred replica is down or not in the ISR; see `fjord topic describe` and retry once it has caught up"
	case errors.Is(err, kerr.EligibleLeadersNotAvailable):
		return "no live replica may lead; bring a replica back, or accept possible record loss with --election-type unclean"
	case isTimeout(err):
		return fmt.Sprintf("no answer from %s within --timeout %s; is the broker up and reachable?", g.bootstrap, g.timeout)
	}
	return ""
}

// isTimeout reports a context deadline or a network read/dial timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// isConnRefused reports a dial that found nothing listening.
func isConnRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "dial" && strings.Contains(oe.Err.Error(), "refused")
}

// errorJSON is the shape of an error under --output json.
type errorJSON struct {
	Error   string `json:"error"`          // Kafka's name (TOPIC_ALREADY_EXISTS) or "ERROR"
	Code    int16  `json:"code,omitempty"` // Kafka's error code, if a Kafka error
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// kafkaName returns the Kafka error name and code in err's chain, if any.
func kafkaName(err error) (string, int16, bool) {
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Message, ke.Code, true
	}
	return "", 0, false
}

// renderError prints err to w: "Error: ..." and "Hint: ..." lines, or one
// JSON object under --output json.
func renderError(w io.Writer, err error, jsonOut bool) {
	hint := ""
	if ce, ok := errors.AsType[*cmdError](err); ok {
		hint = ce.hint
	}
	if jsonOut {
		ej := errorJSON{Error: "ERROR", Message: err.Error(), Hint: hint}
		if name, code, ok := kafkaName(err); ok {
			ej.Error, ej.Code = name, code
		}
		b, _ := json.Marshal(ej) // plain strings and ints cannot fail
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "Error: %s\n", err)
	if hint != "" {
		fmt.Fprintf(w, "Hint: %s\n", hint)
	}
}
