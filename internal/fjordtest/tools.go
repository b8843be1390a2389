package fjordtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireClientsEnv, when "1", turns a missing external client into a test
// failure instead of a skip; CI sets it so compatibility is never skipped
// unnoticed.
const RequireClientsEnv = "FJORD_REQUIRE_CLIENTS"

// Tool names understood by RequireTool.
const (
	// ToolKcat is the kcat (librdkafka) command-line client.
	ToolKcat = "kcat"
	// ToolKafkaPython is a python3 interpreter that can `import kafka`
	// (kafka-python, Debian's python3-kafka).
	ToolKafkaPython = "kafka-python"
	// ToolConfluentKafka is a python3 interpreter that can `import
	// confluent_kafka` (librdkafka's Python client, Debian's
	// python3-confluent-kafka): the transactional producer librdkafka
	// users run.
	ToolConfluentKafka = "confluent-kafka"
)

// pythonCandidates are tried in order for kafka-python: Debian's package
// installs into the system interpreter, while python3 on PATH may be a
// pyenv or virtualenv without it.
var pythonCandidates = []string{"/usr/bin/python3", "python3"}

// RequireTool returns the path of the executable for a tool (ToolKcat, or for
// ToolKafkaPython the python3 that has the kafka module). If the tool is
// missing, the test is skipped with a loud message, or fails if
// FJORD_REQUIRE_CLIENTS=1.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := findTool(name)
	if err == nil {
		return path
	}
	if os.Getenv(RequireClientsEnv) == "1" {
		t.Fatalf("%s=1 but %s is missing: %v; install it (scripts/test does)", RequireClientsEnv, name, err)
		return ""
	}
	t.Skip(fmt.Sprintf("SKIPPING: %s not installed (%v); run scripts/test to install", name, err))
	return ""
}

func findTool(name string) (string, error) {
	switch name {
	case ToolKafkaPython, ToolConfluentKafka:
		module := "kafka"
		if name == ToolConfluentKafka {
			module = "confluent_kafka"
		}
		var errs []error
		for _, c := range pythonCandidates {
			p, err := exec.LookPath(c)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := pythonHas(p, module); err != nil {
				errs = append(errs, err)
				continue
			}
			return p, nil
		}
		return "", fmt.Errorf("no python3 with the %s module: %v", module, errs)
	default:
		p, err := exec.LookPath(name)
		if err != nil {
			return "", err
		}
		return p, nil
	}
}

func pythonHas(python, module string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", "import "+module).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import %s: %w: %s", python, module, err, out)
	}
	return nil
}
