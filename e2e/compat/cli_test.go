package compat

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// cliExitError is the fjord CLI's exit code for a command that ran and
// failed (a Kafka error), as opposed to 2 for a usage error.
const cliExitError = 1

// fjordCLI runs `fjord ARGS... --bootstrap-server ADDR`.
func fjordCLI(t *testing.T, addr string, args ...string) cmdResult {
	t.Helper()
	return run(t, "", fjordtest.BuildFjord(t), append(args, "--bootstrap-server", addr)...)
}

// TestSeed003_CLIWalkthrough follows the seed's steps with Fjord's CLI in
// place of Kafka's scripts, then runs the seed's Python snippets against the
// topic it created:
//
//	kafka-broker-api-versions.sh  -> fjord cluster api-versions
//	kafka-topics.sh --list        -> fjord topic list
//	kafka-topics.sh --create --replication-factor 3 --partitions 3
//	                              -> fjord topic create ...: must fail on one
//	                                 broker with INVALID_REPLICATION_FACTOR
//	... --replication-factor 1    -> succeeds
func TestSeed003_CLIWalkthrough(t *testing.T) {
	b := startBroker(t)
	addr := b.Addr()

	res := fjordCLI(t, addr, "cluster", "api-versions")
	if res.code != 0 {
		t.Fatalf("fjord cluster api-versions: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, api := range []string{"Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics"} {
		if !strings.Contains(res.stdout, api) {
			t.Errorf("fjord cluster api-versions does not list %s:\n%s", api, res.stdout)
		}
	}

	res = fjordCLI(t, addr, "topic", "list")
	if res.code != 0 {
		t.Fatalf("fjord topic list: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, seedTopic) {
		t.Fatalf("fjord topic list shows %s before it was created:\n%s", seedTopic, res.stdout)
	}

	res = fjordCLI(t, addr, "topic", "create", seedTopic, "--partitions", "3", "--replication-factor", "3")
	if res.code != cliExitError {
		t.Fatalf("fjord topic create --replication-factor 3 on one broker: exit %d, want %d\n%s%s", res.code, cliExitError, res.stdout, res.stderr)
	}
	msg := res.stdout + res.stderr
	if !strings.Contains(msg, "INVALID_REPLICATION_FACTOR") {
		t.Errorf("refusal does not name INVALID_REPLICATION_FACTOR:\n%s", msg)
	}
	// The broker's error message must say why; kfake sends none.
	if fjordtest.CurrentTarget(t) == fjordtest.TargetFjord && !regexp.MustCompile(`(?i)\b(1|one) (available |registered |live )?broker`).MatchString(msg) {
		t.Errorf("refusal does not say there is one broker:\n%s", msg)
	}

	res = fjordCLI(t, addr, "topic", "create", seedTopic, "--partitions", "3", "--replication-factor", "1")
	if res.code != 0 {
		t.Fatalf("fjord topic create --replication-factor 1: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = fjordCLI(t, addr, "topic", "list")
	if res.code != 0 || !strings.Contains(res.stdout, seedTopic) {
		t.Fatalf("fjord topic list after create: exit %d, want %s listed\n%s%s", res.code, seedTopic, res.stdout, res.stderr)
	}
	if n := waitTopicPartitions(t, addr, seedTopic); n != 3 {
		t.Fatalf("%s has %d partitions, want 3", seedTopic, n)
	}

	// The seed then produces and consumes with kafka-python.
	python := fjordtest.RequireTool(t, fjordtest.ToolKafkaPython)
	consumer := startSeedConsumer(t, python, addr)
	consumer.waitPositioned(t, 3)
	runSeedProducer(t, python, addr)
	// Unkeyed sends spread over the 3 partitions: compare as a set.
	if got := consumer.received(t); !slices.Equal(sorted(got), sorted(seedMessages)) {
		t.Fatalf("seed consumer printed %q, want %q in any order", got, seedMessages)
	}
}
