package perf

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGroupJoin measures how long a 10-member group takes to reach
// Stable again, with every member assigned, after an 11th member joins.
// Classic members heartbeat every 100 ms, and KIP-848 brokers are set to a
// 100 ms group.consumer.heartbeat.interval.ms, so the time is the broker's
// rebalance plus a few heartbeat intervals for the members to notice (a
// KIP-848 member must revoke before the newcomer is given the partitions).
func BenchmarkGroupJoin(b *testing.B) {
	balancers := []struct {
		name   string
		b      kgo.GroupBalancer
		kip848 bool
	}{
		{"eager-range", kgo.RangeBalancer(), false},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), false},
		{"kip848-uniform", kgo.CooperativeStickyBalancer(), true},
	}
	for _, tg := range targets() {
		for _, bal := range balancers {
			b.Run(tg.name+"/"+bal.name, func(b *testing.B) {
				addr := tg.start(b)
				for i := 0; i < b.N; i++ {
					d := groupJoinOnce(b, addr, bal.b, bal.kip848)
					b.ReportMetric(float64(d.Milliseconds()), "ms-to-stable")
				}
			})
		}
	}
}

func groupJoinOnce(b *testing.B, addr string, balancer kgo.GroupBalancer, kip848 bool) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topic := fmt.Sprintf("join-%d", topicSeq.Add(1))
	group := topic + "-group"
	if _, err := adm.CreateTopic(ctx, 22, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	var assigned atomic.Int64 // members currently holding partitions
	start := func() *kgo.Client {
		var mine atomic.Bool
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.Balancers(balancer), kgo.HeartbeatInterval(100 * time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				if len(m[topic]) > 0 && mine.CompareAndSwap(false, true) {
					assigned.Add(1)
				}
			})}
		if kip848 {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for ctx.Err() == nil && !cl.PollFetches(ctx).IsClientClosed() {
			}
		}()
		return cl
	}
	waitStable := func(members int) {
		for ctx.Err() == nil {
			state, n := "", 0
			if kip848 {
				if gs, err := adm.DescribeConsumerGroups(ctx, group); err == nil {
					state, n = gs[group].State, len(gs[group].Members)
				}
			} else if gs, err := adm.DescribeGroups(ctx, group); err == nil {
				state, n = gs[group].State, len(gs[group].Members)
			}
			if state == "Stable" && n == members && assigned.Load() == int64(members) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Fatalf("group did not reach Stable with %d assigned members", members)
	}
	var clients []*kgo.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < 10; i++ {
		clients = append(clients, start())
	}
	waitStable(10)
	t0 := time.Now()
	clients = append(clients, start())
	waitStable(11)
	return time.Since(t0)
}
