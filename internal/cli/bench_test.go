package cli

import (
	"testing"
)

// benchJSON is the part of bench.Result's JSON the tests check.
type benchJSON struct {
	Mode    string `json:"mode"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	Latency *struct {
		Count int64   `json:"count"`
		P99   float64 `json:"p99"`
	} `json:"latency_ms"`
}

func TestBench_ProduceConsumeE2E(t *testing.T) {
	e := newEnv(t, 1)
	perf := e.name("perf")

	r := e.ok("", "bench", "produce", "--topic", perf, "--records", "2000", "--record-size", "100", "--partitions", "2", "--linger", "1ms")
	mustContain(t, "produce summary", r.stdout, "produce "+perf+": 2000 records", "records/s", "MB/s", "p50", "p99", "p99.9", "max")

	var res benchJSON
	decode(t, e.ok("", "bench", "consume", "--topic", perf, "--records", "2000", "-o", "json").stdout, &res)
	if res.Mode != "consume" || res.Records != 2000 || res.Bytes != 200000 || res.Latency != nil {
		t.Errorf("consume JSON = %+v: want 2000 records, 200000 bytes, no latency", res)
	}

	res = benchJSON{}
	decode(t, e.ok("", "bench", "e2e", "--topic", perf, "--records", "500", "--record-size", "64", "--acks", "1", "-o", "json").stdout, &res)
	if res.Mode != "e2e" || res.Records != 500 || res.Latency == nil || res.Latency.Count != 500 {
		t.Errorf("e2e JSON = %+v: want 500 records with 500 latencies", res)
	}

	// 2000 + 500 records are in the topic. Reading more than that ends, after --timeout idle, with
	// the partial summary and an error. The idle timeout is generous: on a loaded machine (CI runs
	// packages in parallel) a pause of a few hundred milliseconds between fetches happens, and
	// ended an earlier 300 ms version of this test after 1,112 records.
	r = e.run("", "bench", "consume", "--topic", perf, "--records", "5000", "--timeout", "2s")
	if r.code != ExitError {
		t.Fatalf("consume past the end: exit %d, want %d\nstderr: %s", r.code, ExitError, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, "consume "+perf+": 2500 records")
	mustContain(t, "stderr", r.stderr, "no progress")
}

func TestBench_MissingTopicForConsume(t *testing.T) {
	e := newEnv(t, 1)
	r := e.run("", "bench", "consume", "--topic", e.name("absent"), "--records", "10")
	if r.code != ExitError {
		t.Fatalf("exit %d, want %d", r.code, ExitError)
	}
	mustContain(t, "stderr", r.stderr, "UNKNOWN_TOPIC_OR_PARTITION")
}
