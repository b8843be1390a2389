package fjordtest

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func rec(tp string, p int32, off int64, k, v string) Record {
	return Record{Topic: tp, Partition: p, Offset: off, Key: []byte(k), Value: []byte(v)}
}

func TestLedger_Check(t *testing.T) {
	base := []Record{rec("a", 0, 0, "k0", "v0"), rec("a", 0, 1, "k1", "v1"), rec("a", 1, 0, "k2", "v2")}
	withHeader := func(r Record, k, v string) Record {
		r.Headers = append(r.Headers, Header{Key: k, Value: []byte(v)})
		return r
	}
	tests := []struct {
		name  string
		acked []Record
		got   []Record
		want  []string // substrings, one per expected problem
	}{
		{name: "all present", acked: base, got: base},
		{name: "nothing acknowledged", got: base},
		{
			name:  "unacknowledged extras are allowed",
			acked: base[:1],
			got:   append(append([]Record{}, base...), rec("a", 0, 2, "x", "y")),
		},
		{
			name:  "gap before an acknowledged offset is allowed",
			acked: []Record{rec("a", 0, 5, "k", "v")},
			got:   []Record{rec("a", 0, 3, "x", "y"), rec("a", 0, 5, "k", "v")},
		},
		{name: "missing record", acked: base, got: base[1:], want: []string{"a/0 offset 0: acknowledged record (key \"k0\") missing"}},
		{name: "nothing read", acked: base, want: []string{"missing", "missing", "missing"}},
		{
			name:  "value differs",
			acked: base,
			got:   []Record{base[0], rec("a", 0, 1, "k1", "v1!"), base[2]},
			want:  []string{"a/0 offset 1: read back differs from acknowledged: value"},
		},
		{
			name:  "key differs",
			acked: base,
			got:   []Record{base[0], rec("a", 0, 1, "kX", "v1"), base[2]},
			want:  []string{"offset 1: read back differs from acknowledged: key"},
		},
		{
			name:  "null key read back as empty",
			acked: []Record{{Topic: "a", Offset: 0, Key: nil, Value: []byte("v")}},
			got:   []Record{{Topic: "a", Offset: 0, Key: []byte{}, Value: []byte("v")}},
			want:  []string{"key null=true != null=false"},
		},
		{
			name:  "tombstone read back as empty value",
			acked: []Record{{Topic: "a", Offset: 0, Key: []byte("k"), Value: nil}},
			got:   []Record{{Topic: "a", Offset: 0, Key: []byte("k"), Value: []byte{}}},
			want:  []string{"tombstone"},
		},
		{
			name:  "header lost",
			acked: []Record{withHeader(base[0], "h", "1")},
			got:   []Record{base[0]},
			want:  []string{"headers"},
		},
		{
			name:  "header value differs",
			acked: []Record{withHeader(base[0], "h", "1")},
			got:   []Record{withHeader(base[0], "h", "2")},
			want:  []string{"headers"},
		},
		{
			name:  "record moved to another offset",
			acked: []Record{rec("a", 0, 1, "k", "v")},
			got:   []Record{rec("a", 0, 2, "k", "v")},
			want:  []string{"a/0 offset 1: acknowledged record (key \"k\") missing"},
		},
		{
			name:  "record moved to another partition",
			acked: []Record{rec("a", 0, 0, "k", "v")},
			got:   []Record{rec("a", 1, 0, "k", "v")},
			want:  []string{"a/0 offset 0: acknowledged record (key \"k\") missing"},
		},
		{
			name:  "read out of order",
			acked: base,
			got:   []Record{base[1], base[0], base[2]},
			want:  []string{"a/0: read offset 0 after offset 1"},
		},
		{
			name:  "offset read twice",
			acked: base,
			got:   []Record{base[0], base[0], base[1], base[2]},
			want:  []string{"a/0: read offset 0 after offset 0"},
		},
		{
			name:  "two different records acknowledged at one offset",
			acked: []Record{rec("a", 0, 0, "k0", "v0"), rec("a", 0, 0, "k1", "v1")},
			got:   []Record{rec("a", 0, 0, "k0", "v0")},
			want:  []string{"acknowledged twice with different records"},
		},
		{
			name:  "same record acknowledged twice is one record",
			acked: []Record{base[0], base[0]},
			got:   base[:1],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLedger()
			for _, r := range tt.acked {
				l.Ack(r)
			}
			problems := l.Check(tt.got)
			if len(problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(problems), len(tt.want), strings.Join(problems, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], w)
				}
			}
		})
	}
}

// fakeTB records failures without stopping the test goroutine.
type fakeTB struct {
	testing.TB
	errors []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, format)
}

func TestLedger_VerifyReportsAndCaps(t *testing.T) {
	l := NewLedger()
	for i := range 50 {
		l.Ack(rec("a", 0, int64(i), "k", "v"))
	}
	ft := &fakeTB{TB: t}
	l.Verify(ft, nil)
	if len(ft.errors) != 1 {
		t.Fatalf("Verify with 50 missing records reported %d errors, want 1", len(ft.errors))
	}
	ft = &fakeTB{TB: t}
	l.Verify(ft, l.Acked())
	if len(ft.errors) != 0 {
		t.Fatalf("Verify with everything present reported %v", ft.errors)
	}
}

func TestLedger_PromiseIgnoresFailures(t *testing.T) {
	l := NewLedger()
	l.Promise(&kgo.Record{Topic: "a", Offset: 3, Key: []byte("k"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}, nil)
	l.Promise(&kgo.Record{Topic: "a", Offset: 4}, kgo.ErrRecordTimeout)
	got := l.Acked()
	if len(got) != 1 || got[0].Offset != 3 || string(got[0].Headers[0].Value) != "v" {
		t.Fatalf("Acked() = %+v, want only the record acknowledged at offset 3", got)
	}
}
