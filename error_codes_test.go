package fjord_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs naming a key twice, or with an operation that
// does not exist, is a malformed request: INVALID_REQUEST, as Kafka
// answers (it was UNKNOWN_SERVER_ERROR).
func TestIncrementalAlterConfigs_MalformedIsInvalidRequest(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "cfg"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for name, configs := range map[string][]kmsg.IncrementalAlterConfigsRequestResourceConfig{
		"duplicate key":     {alterConfig("retention.ms", 0, "5"), alterConfig("retention.ms", 0, "6")},
		"unknown operation": {alterConfig("retention.ms", 9, "5")},
	} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeTopic, "cfg", configs
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%s: %+v, want INVALID_REQUEST", name, resp.Resources)
		}
	}
}

func alterConfig(key string, op int8, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = key, kmsg.IncrementalAlterConfigOp(op), kmsg.StringPtr(value)
	return c
}
