package fjord_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// createAssigned creates a one-partition topic on the given replicas.
func createAssigned(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: "min.insync.replicas", Value: kmsg.StringPtr("2")})
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %s)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// partitionState reads a partition's replicas, ISR and leader from the
// metadata of a broker.
func partitionState(ctx context.Context, adm *kadm.Client, topic string) (kadm.PartitionDetail, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return kadm.PartitionDetail{}, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return td.Partitions[0], nil
}

func sorted(ids []int32) []int32 { return slices.Sorted(slices.Values(ids)) }

// reassigning reports whether the controller lists a reassignment of
// topic's partition 0.
func reassigning(ctx context.Context, adm *kadm.Client, topic string) (bool, string, error) {
	s := make(kadm.TopicsSet)
	s.Add(topic, 0)
	l, err := adm.ListPartitionReassignments(ctx, s)
	if err != nil {
		return false, "", err
	}
	r, ok := l[topic][0]
	return ok, fmt.Sprintf("%+v", r), nil
}

// Moving an RF=2 partition from brokers {1,2} to {2,3} under an acks=all
// idempotent producer (kadm.AlterPartitionAssignments, as
// kafka-reassign-partitions.sh does): broker 3 catches up, joins the ISR,
// the reassignment completes with the leadership moved off broker 1 last,
// broker 1 deletes its copy, and every acknowledged record is read back
// once at its offset.
func TestCluster_ReassignPartitionUnderLoad(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("moves"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(60*time.Second), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createAssigned(t, ctx, cl, "moves", 1, 2)

	ledger := fjordtest.NewLedger()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, ledger.Promise)
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return ledger.Len() >= 200, fmt.Sprint(ledger.Len()) })
	old := filepath.Join(c.DataDirs()[0], "moves-0")
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("broker 1 should host moves-0 before the move: %v", err)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moves", 0, []int32{2, 3})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["moves"][0]; r.Err != nil {
		t.Fatalf("reassign: %v (%s)", r.Err, r.ErrMessage)
	}
	waitFor(t, ctx, "the reassignment to complete", func() (bool, string) {
		on, state, err := reassigning(ctx, adm, "moves")
		return err == nil && !on, fmt.Sprint(state, err)
	})
	waitFor(t, ctx, "replicas [2,3] with an ISR of both", func() (bool, string) {
		p, err := partitionState(ctx, adm, "moves")
		return err == nil && slices.Equal(p.Replicas, []int32{2, 3}) && slices.Equal(sorted(p.ISR), []int32{2, 3}) && p.Leader == 2,
			fmt.Sprintf("%+v %v", p, err)
	})
	waitFor(t, ctx, "broker 1 to delete its copy", func() (bool, string) {
		_, err := os.Stat(old)
		return errors.Is(err, os.ErrNotExist), fmt.Sprint(err)
	})
	// Writes go on after the move.
	n := ledger.Len()
	waitFor(t, ctx, "records acknowledged after the move", func() (bool, string) { return ledger.Len() >= n+100, fmt.Sprint(ledger.Len()) })
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ledger.VerifyExactlyOnce(t, readAll(t, ctx, c, adm, "moves"))
}

// readAll reads a topic's partition 0 from the start to its end offset.
func readAll(t *testing.T, ctx context.Context, c *fjord.Cluster, adm *kadm.Client, topic string) []fjordtest.Record {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []fjordtest.Record
	for (len(got) == 0 || got[len(got)-1].Offset < end.Offset-1) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		got = append(got, fjordtest.FromKgoAll(fs.Records())...)
	}
	if ctx.Err() != nil {
		t.Fatalf("read %d records of %d", len(got), end.Offset)
	}
	return got
}

// A reassignment to a broker that is down cannot complete; cancelling it
// leaves the partition as it was: replicas [1,2], ISR [1,2], leader 1, and
// no reassignment listed.
func TestCluster_ReassignCancelledHalfway(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()[:2]...), kgo.DefaultProduceTopic("stays"), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createAssigned(t, ctx, cl, "stays", 1, 2)
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before, err := partitionState(ctx, adm, "stays")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(2); err != nil { // broker 3
		t.Fatal(err)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("stays", 0, []int32{2, 3})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resp["stays"][0].Err != nil {
		t.Fatalf("reassign: %v %v", err, resp["stays"][0].Err)
	}
	waitFor(t, ctx, "the reassignment to be listed", func() (bool, string) {
		on, state, err := reassigning(ctx, adm, "stays")
		return err == nil && on, fmt.Sprint(state, err)
	})
	// Broker 3 cannot catch up: the reassignment stays in progress.
	time.Sleep(time.Second)
	if on, state, err := reassigning(ctx, adm, "stays"); err != nil || !on {
		t.Fatalf("completed without broker 3: %s %v", state, err)
	}

	req = nil
	req.CancelAssign("stays", 0)
	resp, err = adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resp["stays"][0].Err != nil {
		t.Fatalf("cancel: %v %v", err, resp["stays"][0].Err)
	}
	waitFor(t, ctx, "the partition as it was", func() (bool, string) {
		p, err := partitionState(ctx, adm, "stays")
		on, _, lerr := reassigning(ctx, adm, "stays")
		return err == nil && lerr == nil && !on && slices.Equal(p.Replicas, before.Replicas) &&
				slices.Equal(sorted(p.ISR), sorted(before.ISR)) && p.Leader == before.Leader,
			fmt.Sprintf("%+v (before %+v) %v %v", p, before, err, lerr)
	})
	// A second cancel has nothing to cancel.
	resp, err = adm.AlterPartitionAssignments(ctx, req)
	if err != nil || !errors.Is(resp["stays"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v %v", err, resp["stays"][0].Err)
	}
	// Nothing was lost or moved: the records are all there.
	for i := 50; i < 60; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, ctx, c, adm, "stays"); len(got) != 60 {
		t.Fatalf("read back %d of 60 records", len(got))
	}
}

// DescribeCluster v2 with IncludeFencedBrokers lists a stopped broker as
// fenced (tools then tell it from an unknown one); without it, or before
// v2, only live brokers are listed.
func TestCluster_DescribeClusterListsFencedBrokers(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()[:2]...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := c.Stop(2); err != nil { // broker 3
		t.Fatal(err)
	}
	describe := func(fenced bool) map[int32]bool {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = 2
		req.IncludeFencedBrokers = fenced
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]bool{}
		for _, b := range resp.Brokers {
			out[b.NodeID] = b.IsFenced
		}
		return out
	}
	waitFor(t, ctx, "broker 3 to be fenced", func() (bool, string) {
		all := describe(true)
		isFenced, listed := all[3]
		return listed && isFenced && len(all) == 3, fmt.Sprint(all)
	})
	if live := describe(false); len(live) != 2 || live[1] || live[2] {
		t.Fatalf("without IncludeFencedBrokers: %v, want brokers 1 and 2, not fenced", live)
	}
}
