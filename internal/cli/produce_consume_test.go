package cli

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// jsonLines decodes one recordJSON per output line.
func jsonLines(t *testing.T, s string) []recordJSON {
	t.Helper()
	var out []recordJSON
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var r recordJSON
		decode(t, sc.Text(), &r)
		out = append(out, r)
	}
	return out
}

func TestProduceConsume_RoundTrip(t *testing.T) {
	e := newEnv(t, 1, "orders")
	orders := e.name("orders")

	r := e.ok("k1:v1\nk2:v2:with:colons\r\nk3:\n", "produce", orders, "--key-separator", ":", "--header", "src=test", "-H", "n=1")
	mustContain(t, "produce", r.stdout, fmt.Sprintf("Produced 3 record(s) to %q.", orders))
	var pj produceJSON
	decode(t, e.ok("plain\n\nlast\n", "produce", orders, "-o", "json", "--acks", "1", "--compression", "gzip").stdout, &pj)
	if pj.Produced != 3 || pj.Failed != 0 {
		t.Fatalf("produce JSON = %+v: want 3 produced (an empty line is an empty record)", pj)
	}

	r = e.ok("", "consume", orders, "--from-beginning", "-n", "6", "--format", `%p/%o %k=%v [%h] %K/%S\n`)
	want := "0/0 k1=v1 [src=test,n=1] 2/2\n" +
		"0/1 k2=v2:with:colons [src=test,n=1] 2/14\n" +
		"0/2 k3= [src=test,n=1] 2/0\n" +
		"0/3 =plain [] 0/5\n" +
		"0/4 = [] 0/0\n" +
		"0/5 =last [] 0/4\n"
	if r.stdout != want {
		t.Errorf("formatted consume =\n%s\nwant\n%s", r.stdout, want)
	}
	mustContain(t, "stderr", r.stderr, "Processed a total of 6 messages")

	recs := jsonLines(t, e.ok("", "consume", orders, "--from-beginning", "-n", "6", "-o", "json").stdout)
	if len(recs) != 6 {
		t.Fatalf("JSON consume gave %d records, want 6", len(recs))
	}
	first, fourth := recs[0], recs[3]
	if first.Topic != orders || first.Key == nil || *first.Key != "k1" || *first.Value != "v1" ||
		len(first.Headers) != 2 || first.Headers[0] != (headerJSON{Key: "src", Value: "test"}) || first.Timestamp <= 0 {
		t.Errorf("first record = %+v", first)
	}
	if fourth.Key != nil || fourth.Value == nil || *fourth.Value != "plain" || fourth.Offset != 3 {
		t.Errorf("fourth record = %+v: want null key, value plain, offset 3", fourth)
	}

	// Default format is the value alone; --offset with --partition starts there.
	r = e.ok("", "consume", orders, "--partition", "0", "--offset", "4", "-n", "2")
	if r.stdout != "\nlast\n" {
		t.Errorf("consume --offset 4 = %q, want the empty record then last", r.stdout)
	}
	r = e.ok("", "consume", orders, "--offset", "earliest", "-n", "1")
	if r.stdout != "v1\n" {
		t.Errorf("consume --offset earliest = %q, want v1", r.stdout)
	}
}

func TestConsume_StartPoints(t *testing.T) {
	e := newEnv(t, 1, "ts")
	ts := e.name("ts")
	e.ok("a\nb\nc\n", "produce", ts)

	// Nothing new arrives: the default start is the end, and an idle
	// --timeout ends the command successfully.
	r := e.ok("", "consume", ts, "--timeout", "200ms")
	if r.stdout != "" {
		t.Errorf("consume from end printed %q, want nothing", r.stdout)
	}
	mustContain(t, "stderr", r.stderr, "Processed a total of 0 messages")

	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name, ts, want string
	}{
		{"unix ms in the past", "0", "a\nb\nc\n"},
		{"RFC3339 in the past", past.UTC().Format(time.RFC3339), "a\nb\nc\n"},
		{"in the future", future.UTC().Format(time.RFC3339Nano), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// -n 3 ends the reads that find records; the idle timeout only
			// ends the future one, and is generous for a loaded machine.
			r := e.ok("", "consume", ts, "--from-timestamp", tt.ts, "-n", "3", "--timeout", "1500ms")
			if r.stdout != tt.want {
				t.Errorf("stdout %q, want %q", r.stdout, tt.want)
			}
		})
	}
}

func TestConsume_GroupCommitsWhatItPrinted(t *testing.T) {
	e := newEnv(t, 1, "g")
	topic, group := e.name("g"), e.name("readers")
	e.ok("1\n2\n3\n", "produce", topic)

	if r := e.ok("", "consume", topic, "--group", group, "--from-beginning", "-n", "2"); r.stdout != "1\n2\n" {
		t.Fatalf("first group read = %q, want 1 and 2", r.stdout)
	}
	// The group resumes after the committed offset; --from-beginning only
	// applies to a group without one.
	if r := e.ok("", "consume", topic, "--group", group, "--from-beginning", "-n", "1"); r.stdout != "3\n" {
		t.Fatalf("second group read = %q, want 3", r.stdout)
	}
}

func TestProduce_ToPartitionAndErrors(t *testing.T) {
	e := newEnv(t, 3, "three")
	three := e.name("three")

	e.ok("x\ny\n", "produce", three, "--partition", "2", "--compression", "zstd")
	if r := e.ok("", "consume", three, "--partition", "2", "--from-beginning", "-n", "2", "-f", `%p:%v\n`); r.stdout != "2:x\n2:y\n" {
		t.Errorf("partition 2 holds %q, want x and y", r.stdout)
	}

	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"missing topic", "a\n", []string{"produce", e.name("nope")},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION", "fjord topic create"}},
		{"missing partition", "a\n", []string{"produce", three, "--partition", "7"},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION", fmt.Sprintf("topic %q has 3 partition(s), numbered 0 to 2", three)}},
		{"line without separator", "k:v\nnokey\n", []string{"produce", three, "--key-separator", ":"},
			[]string{"line 2: no key separator", "KEY:VALUE"}},
		{"line too long", strings.Repeat("x", 100) + "\n", []string{"produce", three, "--max-line-bytes", "10"},
			[]string{"longer than 10 bytes", "--max-line-bytes"}},
		{"consume missing topic", "", []string{"consume", e.name("nope")},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(tt.stdin, tt.args...)
			if r.code != ExitError {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, ExitError, r.stdout, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, tt.want...)
		})
	}
	// The line before the bad one was still produced and reported.
	if r := e.run("k:v\nnokey\n", "produce", three, "--key-separator", ":"); !strings.Contains(r.stdout, "Produced 1 record(s)") {
		t.Errorf("stdout %q: want the one good line counted", r.stdout)
	}
}

func TestParseFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic: "t", Partition: 1, Offset: 42, Key: []byte("k"), Value: []byte("val"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	tests := []struct {
		format, want, wantErr string
	}{
		{`%v\n`, "val\n", ""},
		{`%t %p %o %k %v %h %T %K %S`, "t 1 42 k val a=1,b=2 1700000000123 1 3", ""},
		{`100%% \t\\ %k`, "100% \t\\ k", ""},
		{`plain`, "plain", ""},
		{`%x`, "", "unknown directive %x"},
		{`%`, "", "lone %"},
		{`\q`, "", `unknown escape \q`},
		{`\`, "", "lone backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := parseFormat(tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.appendRecord(nil, rec)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendRecordJSON_BinaryAndNull(t *testing.T) {
	rec := &kgo.Record{Topic: "t", Key: []byte{0xff, 0xfe}, Value: nil}
	b, err := appendRecordJSON(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	var got recordJSON
	decode(t, string(b), &got)
	if got.Key != nil || got.KeyBase64 != "//4=" || got.Value != nil || got.ValueBase64 != "" {
		t.Errorf("JSON %s: want key only as base64 and a null value", b)
	}
}
