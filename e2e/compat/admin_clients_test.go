package compat

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
)

// adminTopic is a topic an admin client creates and deletes.
type adminTopic struct {
	name       string
	partitions int
}

// adminTopics are the topics each admin client creates and deletes.
var adminTopics = []adminTopic{
	{"admin-one", 1},
	{"admin-three", 3},
	{"admin.with.dots_and-dashes", 2},
}

// TestSarama_CreateListDeleteTopics drives CreateTopics, Metadata and
// DeleteTopics through sarama's ClusterAdmin, configured as a recent Kafka so
// it negotiates recent versions.
func TestSarama_CreateListDeleteTopics(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_1_0_0
	cfg.Admin.Timeout = cmdTimeout
	cfg.Net.DialTimeout = 10 * time.Second
	adm, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("sarama admin: %v", err)
	}
	defer adm.Close()

	for _, tt := range adminTopics {
		if err := adm.CreateTopic(tt.name, &sarama.TopicDetail{NumPartitions: int32(tt.partitions), ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("create %s: %v", tt.name, err)
		}
	}
	err = adm.CreateTopic(adminTopics[0].name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("creating %s again: %v, want TOPIC_ALREADY_EXISTS", adminTopics[0].name, err)
	}
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, tt := range adminTopics {
		d, ok := topics[tt.name]
		if !ok || int(d.NumPartitions) != tt.partitions {
			t.Errorf("listed %s: present=%v partitions=%d, want %d", tt.name, ok, d.NumPartitions, tt.partitions)
		}
	}

	for _, tt := range adminTopics {
		if err := adm.DeleteTopic(tt.name); err != nil {
			t.Fatalf("delete %s: %v", tt.name, err)
		}
	}
	if err := adm.DeleteTopic("admin-never-created"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("deleting a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	waitGone(t, func() ([]string, error) {
		topics, err := adm.ListTopics()
		var names []string
		for n := range topics {
			names = append(names, n)
		}
		return names, err
	})
}

// TestKafkaGo_CreateListDeleteTopics does the same through segmentio's
// kafka-go Client.
func TestKafkaGo_CreateListDeleteTopics(t *testing.T) {
	b := startBroker(t)
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: cmdTimeout}

	req := &kafka.CreateTopicsRequest{}
	for _, tt := range adminTopics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: tt.name, NumPartitions: tt.partitions, ReplicationFactor: 1})
	}
	resp, err := cl.CreateTopics(ctx(t), req)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, tt := range adminTopics {
		if err := resp.Errors[tt.name]; err != nil {
			t.Fatalf("create %s: %v", tt.name, err)
		}
	}
	resp, err = cl.CreateTopics(ctx(t), &kafka.CreateTopicsRequest{Topics: req.Topics[:1]})
	if err != nil {
		t.Fatalf("create again: %v", err)
	}
	if err := resp.Errors[adminTopics[0].name]; !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Errorf("creating %s again: %v, want TOPIC_ALREADY_EXISTS", adminTopics[0].name, err)
	}

	md, err := cl.Metadata(ctx(t), &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, tt := range adminTopics {
		i := slices.IndexFunc(md.Topics, func(tp kafka.Topic) bool { return tp.Name == tt.name })
		if i < 0 || len(md.Topics[i].Partitions) != tt.partitions || md.Topics[i].Error != nil {
			t.Errorf("metadata for %s: index %d, want %d partitions and no error: %+v", tt.name, i, tt.partitions, md.Topics)
		}
	}

	var names []string
	for _, tt := range adminTopics {
		names = append(names, tt.name)
	}
	del, err := cl.DeleteTopics(ctx(t), &kafka.DeleteTopicsRequest{Topics: append(names, "admin-never-created")})
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	for _, n := range names {
		if err := del.Errors[n]; err != nil {
			t.Fatalf("delete %s: %v", n, err)
		}
	}
	if err := del.Errors["admin-never-created"]; !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("deleting a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	waitGone(t, func() ([]string, error) {
		md, err := cl.Metadata(ctx(t), &kafka.MetadataRequest{})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, tp := range md.Topics {
			names = append(names, tp.Name)
		}
		return names, nil
	})
}

// waitGone polls list until none of adminTopics is listed. Kafka deletes
// asynchronously, so a topic may linger briefly after DeleteTopics returns.
func waitGone(t *testing.T, list func() ([]string, error)) {
	t.Helper()
	deadline := time.Now().Add(cmdTimeout)
	for {
		names, err := list()
		left := slices.DeleteFunc(slices.Clone(names), func(n string) bool {
			return !slices.ContainsFunc(adminTopics, func(a adminTopic) bool { return a.name == n })
		})
		if err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: still listed %v (err %v)", left, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
