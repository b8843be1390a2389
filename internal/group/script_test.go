package group

// A tiny datadriven-style runner: testdata/*.txt hold blocks of
//
//	command arg=value ...
//	----
//	expected output (no blank lines)
//
// separated by blank lines; lines starting with '#' are comments. Each file
// drives one Coordinator with a fake clock. `go test -run TestScripts
// -args -rewrite` rewrites the expected output (review the diff!).

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scripts")

var scriptStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type scriptBlock struct {
	comments []string
	cmd      string
	want     []string
}

func parseScript(t *testing.T, text string) []scriptBlock {
	var blocks []scriptBlock
	lines := strings.Split(text, "\n")
	var cur scriptBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			// Blank lines separate blocks; the rewrite puts them back.
		case strings.HasPrefix(l, "#"):
			cur.comments = append(cur.comments, l)
		case cur.cmd == "":
			cur.cmd = l
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("line %d: command %q not followed by ----", i+1, l)
			}
			i++
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
				cur.want = append(cur.want, lines[i])
			}
			blocks = append(blocks, cur)
			cur = scriptBlock{}
		}
	}
	// Trailing comments are kept by the rewrite as a command-less block.
	if len(cur.comments) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			blocks := parseScript(t, string(b))
			h := newHarness(t, Config{})
			var rewritten strings.Builder
			for _, blk := range blocks {
				for _, c := range blk.comments {
					rewritten.WriteString(c + "\n")
				}
				if blk.cmd == "" {
					continue
				}
				got := h.run(blk.cmd)
				if !slices.Equal(got, blk.want) && !*rewrite {
					t.Errorf("%s: %s\n got:\n  %s\nwant:\n  %s", f, blk.cmd,
						strings.Join(got, "\n  "), strings.Join(blk.want, "\n  "))
				}
				rewritten.WriteString(blk.cmd + "\n----\n")
				for _, l := range got {
					rewritten.WriteString(l + "\n")
				}
				rewritten.WriteString("\n")
			}
			if *rewrite {
				out := strings.TrimRight(rewritten.String(), "\n") + "\n"
				if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// harness drives a Coordinator the way the Runtime would, recording the
// records it writes (the "log") and the handles still parked.
type harness struct {
	t      tb
	cfg    Config
	c      *Coordinator
	now    time.Time
	log    []coordinator.Record
	parked map[coordinator.Handle]bool
	ids    int
}

// tb is what the harness needs of *testing.T and *rapid.T.
type tb interface {
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

func newHarness(t tb, cfg Config) *harness {
	h := &harness{t: t, now: scriptStart, parked: map[coordinator.Handle]bool{}}
	h.configure(cfg)
	return h
}

func (h *harness) configure(cfg Config) {
	if cfg.NumPartitions == 0 {
		cfg.NumPartitions = 1
	}
	cfg.NewMemberID = func(prefix string) string {
		h.ids++
		return fmt.Sprintf("%s-%d", prefix, h.ids)
	}
	h.cfg = cfg
	h.c = New(cfg)
	h.c.Loaded(h.now)
}

type args map[string]string

func (a args) str(k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

func (a args) ptr(k string) *string {
	if v, ok := a[k]; ok {
		return &v
	}
	return nil
}

func (h *harness) int(a args, k string, def int64) int64 {
	v, ok := a[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		h.t.Fatalf("%s=%q: %v", k, v, err)
	}
	return n
}

func (h *harness) dur(a args, k string, def time.Duration) time.Duration {
	v, ok := a[k]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		h.t.Fatalf("%s=%q: %v", k, v, err)
	}
	return d
}

func (h *harness) run(line string) []string {
	fields := strings.Fields(line)
	cmd, a := fields[0], args{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			h.t.Fatalf("%q: argument %q is not key=value", line, f)
		}
		a[k] = v
	}
	switch cmd {
	case "config":
		h.configure(Config{
			NumPartitions:                 int32(h.int(a, "partitions", 1)),
			Partition:                     int32(h.int(a, "partition", 0)),
			InitialRebalanceDelay:         h.dur(a, "initial-delay", 0),
			NoInitialRebalanceDelay:       a["initial-delay"] == "0s",
			MaxSize:                       int(h.int(a, "max-size", 0)),
			OffsetsRetention:              h.dur(a, "retention", 0),
			OffsetsRetentionCheckInterval: h.dur(a, "check", 0),
			OffsetMetadataMaxBytes:        int(h.int(a, "meta-max", 0)),
		})
		return []string{"ok"}
	case "advance":
		// Fire each deadline at its own time, as the Runtime's timer does.
		target := h.now.Add(h.dur(a, "by", 0))
		var out []string
		for d := h.c.NextDeadline(); !d.IsZero() && !target.Before(d); d = h.c.NextDeadline() {
			if d.After(h.now) {
				h.now = d
			}
			lines := h.result(h.c.Tick(h.now))
			if len(lines) > 0 {
				out = append(out, "at "+h.rel(h.now))
				out = append(out, lines...)
			}
		}
		h.now = target
		return append(out, "now "+h.rel(h.now))
	case "state":
		return h.dumpState()
	case "reload":
		return h.reload()
	case "check-reload":
		return h.checkReload()
	}
	return h.result(h.op(cmd, a))
}

func (h *harness) op(cmd string, a args) coordinator.Result {
	c, now := h.c, h.now
	switch cmd {
	case "join":
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version = int16(h.int(a, "v", 9))
		r.Group = a.str("g", "g1")
		r.MemberID = a.str("m", "")
		r.InstanceID = a.ptr("inst")
		r.SessionTimeoutMillis = int32(h.dur(a, "session", 10*time.Second).Milliseconds())
		r.RebalanceTimeoutMillis = int32(h.dur(a, "rebalance", 30*time.Second).Milliseconds())
		r.ProtocolType = a.str("type", "consumer")
		if a["type"] == "-" {
			r.ProtocolType = ""
		}
		r.Protocols = parseProtocols(a.str("protos", "range:t1"))
		client := a.str("client", "c1")
		return c.JoinGroup(r, Client{ID: client, Host: "/10.0.0." + strings.TrimPrefix(client, "c")}, now)
	case "sync":
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = int16(h.int(a, "v", 5))
		r.Group = a.str("g", "g1")
		r.MemberID = a.str("m", "")
		r.InstanceID = a.ptr("inst")
		r.Generation = int32(h.int(a, "gen", 1))
		r.ProtocolType = a.ptr("type")
		r.Protocol = a.ptr("proto")
		if as := a.str("assign", ""); as != "" {
			for _, pair := range strings.Split(as, ",") {
				m, v, _ := strings.Cut(pair, ":")
				ga := kmsg.NewSyncGroupRequestGroupAssignment()
				ga.MemberID, ga.MemberAssignment = m, []byte(v)
				r.GroupAssignment = append(r.GroupAssignment, ga)
			}
		}
		return c.SyncGroup(r, now)
	case "heartbeat":
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version = int16(h.int(a, "v", 4))
		r.Group = a.str("g", "g1")
		r.MemberID = a.str("m", "")
		r.InstanceID = a.ptr("inst")
		r.Generation = int32(h.int(a, "gen", 1))
		return c.Heartbeat(r, now)
	case "leave":
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version = int16(h.int(a, "v", 5))
		r.Group = a.str("g", "g1")
		if r.Version < 3 {
			r.MemberID = a.str("m", "")
		} else {
			for _, m := range strings.Split(a.str("m", ""), ",") {
				lm := kmsg.NewLeaveGroupRequestMember()
				if inst, ok := strings.CutPrefix(m, "inst:"); ok {
					lm.InstanceID = &inst
				} else if id, inst, ok := strings.Cut(m, "/"); ok {
					lm.MemberID, lm.InstanceID = id, &inst
				} else {
					lm.MemberID = m
				}
				r.Members = append(r.Members, lm)
			}
		}
		return c.LeaveGroup(r, now)
	case "commit":
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = int16(h.int(a, "v", 8))
		r.Group = a.str("g", "g1")
		r.MemberID = a.str("m", "")
		r.InstanceID = a.ptr("inst")
		r.Generation = int32(h.int(a, "gen", -1))
		r.RetentionTimeMillis = h.dur(a, "retention", -time.Millisecond).Milliseconds()
		r.Topics = parseCommitOffsets(a.str("offsets", ""), a.ptr("meta"))
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].LeaderEpoch = int32(h.int(a, "epoch", -1))
			}
		}
		return c.OffsetCommit(r, now)
	case "fetch":
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = int16(h.int(a, "v", 7))
		groups := strings.Split(a.str("g", "g1"), ",")
		topics := parseFetchTopics(a.str("topics", ""))
		if r.Version >= 8 {
			for _, g := range groups {
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = g
				for _, t := range topics {
					gt := kmsg.NewOffsetFetchRequestGroupTopic()
					gt.Topic, gt.Partitions = t.Topic, t.Partitions
					rg.Topics = append(rg.Topics, gt)
				}
				r.Groups = append(r.Groups, rg)
			}
		} else {
			r.Group, r.Topics = groups[0], topics
		}
		return c.OffsetFetch(r, now)
	case "describe":
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version = int16(h.int(a, "v", 5))
		r.Groups = strings.Split(a.str("g", "g1"), ",")
		return c.DescribeGroups(r, now)
	case "list":
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = int16(h.int(a, "v", 5))
		if s := a.str("states", ""); s != "" {
			r.StatesFilter = strings.Split(s, ",")
		}
		if s := a.str("types", ""); s != "" {
			r.TypesFilter = strings.Split(s, ",")
		}
		return c.ListGroups(r, now)
	case "delete-groups":
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = int16(h.int(a, "v", 2))
		r.Groups = strings.Split(a.str("g", "g1"), ",")
		return c.DeleteGroups(r, now)
	case "offset-delete":
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = a.str("g", "g1")
		for _, t := range parseFetchTopics(a.str("topics", "")) {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteRequestTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		return c.OffsetDelete(r, now)
	}
	h.t.Fatalf("unknown command %q", cmd)
	return coordinator.Result{}
}

// result renders a Result as the Runtime would act on it, and appends its
// records to the harness log.
func (h *harness) result(res coordinator.Result) []string {
	var out []string
	if res.Wait != 0 {
		h.parked[res.Wait] = true
		out = append(out, fmt.Sprintf("wait h%d", res.Wait))
	} else if res.Response != nil {
		out = append(out, h.fmtResponse(res.Response)...)
	}
	for _, c := range res.Completions {
		if !h.parked[c.Handle] {
			h.t.Errorf("completion of h%d, which is not parked", c.Handle)
		}
		delete(h.parked, c.Handle)
		lines := h.fmtResponse(c.Response)
		lines[0] = fmt.Sprintf("done h%d: %s", c.Handle, lines[0])
		out = append(out, lines...)
	}
	for _, r := range res.Records {
		h.log = append(h.log, r)
		out = append(out, "record "+h.fmtRecord(r))
	}
	return out
}

// reload replays the log into a fresh Coordinator, as a Runtime does after a
// failed append or on takeover; parked handles are failed.
func (h *harness) reload() []string {
	var out []string
	if len(h.parked) > 0 {
		hs := make([]string, 0, len(h.parked))
		for hd := range h.parked {
			hs = append(hs, fmt.Sprintf("h%d", hd))
		}
		slices.Sort(hs)
		out = append(out, "failed "+strings.Join(hs, " "))
		clear(h.parked)
	}
	fresh := New(h.cfg)
	for _, r := range h.log {
		if err := fresh.Replay(r.Key, r.Value); err != nil {
			h.t.Fatalf("replay: %v", err)
		}
	}
	h.c = fresh
	res := h.c.Loaded(h.now)
	out = append(out, fmt.Sprintf("replayed %d records", len(h.log)))
	return append(out, h.result(res)...)
}
