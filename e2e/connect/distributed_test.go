package connect

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/rest"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Issue 10's distributed test with processes: three `fjord connect
// distributed` workers run a Datagen connector of six tasks, created
// through a follower's REST API (forwarded to the leader); one worker is
// SIGKILLed and its tasks move to the others once its session and
// scheduled.rebalance.max.delay.ms have passed, while records keep
// flowing; a fourth worker joins and gets tasks while at least one of the
// others' tasks keeps running where it was (incremental cooperative).
func TestDistributed_WorkerSIGKILLedAndOneJoins(t *testing.T) {
	bin := fjordtest.BuildFjord(t)
	broker := fjordtest.StartProcess(t, bin, t.TempDir())
	dir := t.TempDir()
	props := filepath.Join(dir, "worker.properties")
	writeProps(t, props, "bootstrap.servers", broker.Addr(), "group.id", "connect-cluster", "listeners", "http://127.0.0.1:0",
		"config.storage.topic", "connect-configs", "offset.storage.topic", "connect-offsets", "status.storage.topic", "connect-status",
		"config.storage.replication.factor", "1", "offset.storage.replication.factor", "1", "status.storage.replication.factor", "1",
		"key.converter", "org.apache.kafka.connect.storage.StringConverter",
		"value.converter", "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable", "false",
		"session.timeout.ms", "6000", "heartbeat.interval.ms", "500", "scheduled.rebalance.max.delay.ms", "3000",
		"offset.flush.interval.ms", "500")
	var workers []*fjordtest.Process
	for range 3 {
		workers = append(workers, fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "distributed", props))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	client := func(p *fjordtest.Process) *rest.Client { return rest.NewClient("http://"+p.Addr(), 30*time.Second) }
	// Every worker takes the write, whichever leads.
	if err := retry(ctx, func() error {
		_, err := client(workers[1]).Create(ctx, map[string]string{"name": "gen", "connector.class": "Datagen",
			"quickstart": "pageviews", "kafka.topic": "pageviews", "max.interval": "20", "tasks.max": "6"})
		return err
	}); err != nil {
		t.Fatalf("creating the connector through worker 2: %v", err)
	}
	owners := func(c *rest.Client) ([]string, error) {
		st, err := c.Status(ctx, "gen")
		if err != nil {
			return nil, err
		}
		var out []string
		for _, task := range st.Tasks {
			if task.State != connect.Running {
				return nil, fmt.Errorf("task %d is %s", task.ID, task.State)
			}
			out = append(out, task.WorkerID)
		}
		if len(out) != 6 {
			return nil, fmt.Errorf("%d tasks", len(out))
		}
		return out, nil
	}
	spreadOver := func(c *rest.Client, ids []string) []string {
		t.Helper()
		var got []string
		if err := retry(ctx, func() error {
			var err error
			if got, err = owners(c); err != nil {
				return err
			}
			for _, o := range got {
				if !slices.Contains(ids, o) {
					return fmt.Errorf("a task on %s, not one of %v", o, ids)
				}
			}
			for _, id := range ids {
				if !slices.Contains(got, id) {
					return fmt.Errorf("no task on %s: %v", id, got)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("six running tasks over %v: %v", ids, err)
		}
		return got
	}
	ids := []string{workers[0].Addr(), workers[1].Addr(), workers[2].Addr()}
	spreadOver(client(workers[0]), ids)

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	produced := func() int64 {
		ends, err := adm.ListEndOffsets(ctx, "pageviews")
		if err != nil {
			return -1
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	workers[2].Kill()
	killed := time.Now()
	survivors := spreadOver(client(workers[0]), ids[:2])
	t.Logf("tasks moved off the SIGKILLed worker in %v (session 6 s, delay 3 s)", time.Since(killed).Round(100*time.Millisecond))
	before := produced()
	if err := retry(ctx, func() error {
		if n := produced(); n <= before+100 {
			return fmt.Errorf("%d records, %d before", n, before)
		}
		return nil
	}); err != nil {
		t.Fatalf("records stopped flowing after the move: %v", err)
	}

	fourth := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "distributed", props)
	joined := spreadOver(client(workers[0]), []string{ids[0], ids[1], fourth.Addr()})
	kept := 0
	for i := range joined {
		if joined[i] == survivors[i] {
			kept++
		}
	}
	if kept == 0 {
		t.Fatalf("every task moved when the fourth worker joined (%v -> %v): not incremental", survivors, joined)
	}
	t.Logf("fourth worker joined: %d of 6 tasks stayed where they ran", kept)
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for ctx.Err() == nil {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
}
