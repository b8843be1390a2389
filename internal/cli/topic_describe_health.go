package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	describeTopicPartitionsKey = 75
	// maxDescribePages bounds DescribeTopicPartitions' cursor loop: 2000
	// partitions a page, so 2 million partitions.
	maxDescribePages = 1000
)

// partitionFilter is `topic describe`'s health filters, kafka-topics.sh's
// --under-replicated-partitions and friends, with its definitions.
type partitionFilter struct {
	underReplicated, underMinISR, atMinISR, unavailable bool
}

func (f partitionFilter) count() int {
	n := 0
	for _, on := range []bool{f.underReplicated, f.underMinISR, f.atMinISR, f.unavailable} {
		if on {
			n++
		}
	}
	return n
}

// matches reports whether partition p of a topic with min.insync.replicas
// minISR (0: unknown) passes the filter; live holds the live brokers.
func (f partitionFilter) matches(p partitionJSON, minISR int, live map[int32]bool) bool {
	hasLeader := p.Leader >= 0
	switch {
	case f.underReplicated:
		return len(p.ISR) < len(p.Replicas)
	case f.underMinISR:
		return !hasLeader || minISR > 0 && len(p.ISR) < minISR
	case f.atMinISR:
		return minISR > 0 && len(p.ISR) == minISR
	case f.unavailable:
		return !hasLeader || !live[p.Leader]
	}
	return true
}

// apply keeps the matching partitions and the topics that have any.
// Topics that failed to load are dropped (their error is reported apart).
func (f partitionFilter) apply(topics []topicDescribeJSON, live map[int32]bool) []topicDescribeJSON {
	out := []topicDescribeJSON{}
	for _, t := range topics {
		if t.Error != "" {
			continue
		}
		var keep []partitionJSON
		for _, p := range t.Partitions {
			if f.matches(p, t.MinISR, live) {
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			t.Partitions = keep
			out = append(out, t)
		}
	}
	return out
}

// minInsyncReplicas reads min.insync.replicas from a topic's configs (any
// source: the topic's own, or the broker default), 0 if absent.
func minInsyncReplicas(rc kadm.ResourceConfig) int {
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" {
			n, err := strconv.Atoi(c.MaybeValue())
			if err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// elrInfo is what DescribeTopicPartitions said about eligible leader
// replicas, or why there is nothing.
type elrInfo struct {
	known   bool
	why     string                          // when !known: why the columns are left out
	byTopic map[string]map[int32][2][]int32 // topic -> partition -> {ELR, LastKnownELR}
}

// describeELR asks for the ELR of topics through DescribeTopicPartitions
// (KIP-966), which Metadata does not carry, when the broker serves it.
// Failing that, it says why, and describe leaves the columns out.
func describeELR(ctx context.Context, cl *kgo.Client, topics []string) elrInfo {
	if len(topics) == 0 {
		return elrInfo{known: true}
	}
	apis, err := supportedAPIs(ctx, cl)
	if err != nil {
		return elrInfo{why: fmt.Sprintf("ELR not shown: ApiVersions failed: %v", err)}
	}
	if !apis.serves(describeTopicPartitionsKey, 0) {
		return elrInfo{why: "ELR not shown: the broker does not serve DescribeTopicPartitions (API key 75), and Metadata does not carry it"}
	}
	info := elrInfo{known: true, byTopic: map[string]map[int32][2][]int32{}}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, t := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = t
		req.Topics = append(req.Topics, rt)
	}
	for range maxDescribePages {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return elrInfo{why: fmt.Sprintf("ELR not shown: DescribeTopicPartitions failed: %v", err)}
		}
		for _, t := range resp.Topics {
			if t.Topic == nil || kerr.ErrorForCode(t.ErrorCode) != nil {
				continue
			}
			parts := info.byTopic[*t.Topic]
			if parts == nil {
				parts = map[int32][2][]int32{}
				info.byTopic[*t.Topic] = parts
			}
			for _, p := range t.Partitions {
				parts[p.Partition] = [2][]int32{nonNil(p.EligibleLeaderReplicas), nonNil(p.LastKnownELR)}
			}
		}
		if resp.NextCursor == nil {
			return info
		}
		c := kmsg.NewDescribeTopicPartitionsRequestCursor()
		c.Topic, c.Partition = resp.NextCursor.Topic, resp.NextCursor.Partition
		req.Cursor = &c
	}
	return elrInfo{why: "ELR not shown: DescribeTopicPartitions did not finish paging"}
}

// fill sets the ELR columns of a described topic, when they are known.
func (e elrInfo) fill(d *topicDescribeJSON) {
	if !e.known {
		return
	}
	for i := range d.Partitions {
		p := &d.Partitions[i]
		got, ok := e.byTopic[d.Name][p.Partition]
		if !ok {
			got = [2][]int32{{}, {}}
		}
		p.ELR, p.LastKnownELR = got[0], got[1]
	}
}

// note prints why the ELR columns are missing, if they are.
func (e elrInfo) note(w io.Writer) {
	if !e.known && e.why != "" {
		fmt.Fprintf(w, "\n(%s.)\n", e.why)
	}
}

// printFilteredPartitions prints a filtered describe: one table of the
// matching partitions across topics (nothing when none match), or the
// filtered topics as JSON.
func printFilteredPartitions(w io.Writer, g *globals, out []topicDescribeJSON, withELR bool) error {
	if g.json() {
		return writeJSON(w, out)
	}
	if len(out) == 0 {
		return nil
	}
	t := newTable(append([]string{"TOPIC"}, partitionHeaders(withELR)...)...)
	for _, d := range out {
		for _, p := range d.Partitions {
			t.add(append([]any{d.Name}, partitionCells(p, withELR)...)...)
		}
	}
	return t.write(w, "")
}
