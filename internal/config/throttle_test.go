package config

import "testing"

func TestThrottledReplicas_Validation(t *testing.T) {
	for v, ok := range map[string]bool{
		"": true, "*": true, " * ": true, "0:1": true, "0:1,1:2": true, "0:1, 1:2": true, "0:1,": true,
		"0": false, "a:1": false, "0:1,*": false, "-1:2": false, "0:1:2": false, "**": false,
		"2147483647:1": true, "2147483648:1": false, "0:99999999999": false,
	} {
		err := ValidateTopicConfigs(map[string]string{"leader.replication.throttled.replicas": v})
		if (err == nil) != ok {
			t.Errorf("leader.replication.throttled.replicas=%q: err %v, want valid %v", v, err, ok)
		}
	}
}

func TestTopic_Throttled(t *testing.T) {
	tc := Topic{LeaderThrottledReplicas: []string{"0:1", "1:2"}, FollowerThrottledReplicas: []string{"*"}}
	if !tc.LeaderThrottled(0, 1) || !tc.LeaderThrottled(1, 2) {
		t.Error("listed pairs not throttled")
	}
	if tc.LeaderThrottled(0, 2) || tc.LeaderThrottled(2, 1) {
		t.Error("pairs not listed throttled")
	}
	if !tc.FollowerThrottled(7, 9) {
		t.Error("* throttles every replica")
	}
	if (Topic{}).FollowerThrottled(0, 0) {
		t.Error("an empty list throttles nothing")
	}
}

func TestBrokerDynamicKeys(t *testing.T) {
	b, _, err := LoadBroker(map[string]string{"leader.replication.throttled.rate": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if b.LeaderReplicationThrottledRate != 1000 || b.FollowerReplicationThrottledRate != 1<<63-1 ||
		b.ReplicationQuotaWindowNum != 11 || b.ReplicationQuotaWindowSize.Seconds() != 1 {
		t.Errorf("throttle fields: %d %d %d %v", b.LeaderReplicationThrottledRate, b.FollowerReplicationThrottledRate,
			b.ReplicationQuotaWindowNum, b.ReplicationQuotaWindowSize)
	}
	reg := Registry()
	for _, name := range []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"} {
		if k, _ := reg.Lookup(name); !k.BrokerDynamic() {
			t.Errorf("%s is not dynamic", name)
		}
	}
	for _, name := range []string{"replication.quota.window.num", "min.insync.replicas", "log.retention.ms"} {
		if k, _ := reg.Lookup(name); k.BrokerDynamic() {
			t.Errorf("%s is dynamic", name)
		}
	}
}

func TestIncrementalAlterBroker(t *testing.T) {
	out, err := IncrementalAlterBroker(nil, []AlterOp{{Key: "leader.replication.throttled.rate", Op: OpSet, Value: "1048576"}})
	if err != nil || out["leader.replication.throttled.rate"] != "1048576" {
		t.Fatalf("set: %v %v", out, err)
	}
	out, err = IncrementalAlterBroker(out, []AlterOp{{Key: "leader.replication.throttled.rate", Op: OpDelete}})
	if err != nil || len(out) != 0 {
		t.Fatalf("delete: %v %v", out, err)
	}
	for _, op := range []AlterOp{
		{Key: "leader.replication.throttled.rate", Op: OpSet, Value: "-1"},
		{Key: "log.retention.ms", Op: OpSet, Value: "1000"},
		{Key: "retention.ms", Op: OpSet, Value: "1000"},
		{Key: "no.such.key", Op: OpSet, Value: "1"},
	} {
		if _, err := IncrementalAlterBroker(nil, []AlterOp{op}); err == nil {
			t.Errorf("%+v accepted", op)
		}
	}
}

func TestDescribeBrokerDynamic(t *testing.T) {
	const key = "follower.replication.throttled.rate"
	find := func(es []Entry) Entry {
		for _, e := range es {
			if e.Name == key {
				return e
			}
		}
		t.Fatalf("%s not described", key)
		return Entry{}
	}
	e := find(DescribeBrokerDynamic(nil, nil, map[string]string{key: "10"}, map[string]string{key: "20"}))
	if e.ReadOnly || *e.Value != "10" || e.Source != SourceDynamicBroker || len(e.Synonyms) != 3 ||
		e.Synonyms[1].Source != SourceDynamicDefaultBroker || e.Synonyms[2].Source != SourceDefault {
		t.Errorf("per-broker: %+v", e)
	}
	e = find(DescribeBrokerDynamic(nil, nil, nil, map[string]string{key: "20"}))
	if *e.Value != "20" || e.Source != SourceDynamicDefaultBroker {
		t.Errorf("cluster default: %+v", e)
	}
	e = find(DescribeBroker(nil, nil))
	if *e.Value != longMax || e.Source != SourceDefault {
		t.Errorf("default: %+v", e)
	}
}

func TestReplicationThrottleRates(t *testing.T) {
	b, _, err := LoadBroker(map[string]string{"follower.replication.throttled.rate": "7"})
	if err != nil {
		t.Fatal(err)
	}
	l, f := b.ReplicationThrottleRates(nil, nil)
	if l != 1<<63-1 || f != 7 {
		t.Errorf("static: %d %d", l, f)
	}
	l, f = b.ReplicationThrottleRates(map[string]string{"leader.replication.throttled.rate": "1"},
		map[string]string{"leader.replication.throttled.rate": "2", "follower.replication.throttled.rate": "3"})
	if l != 1 || f != 3 {
		t.Errorf("dynamic: %d %d", l, f)
	}
}
