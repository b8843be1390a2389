package fjord_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord"
)

// Settings Fjord cannot honour, or that contradict the data folder, stop
// start-up with a message naming the key.
func TestStart_RefusesWhatItCannotHonour(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	voters := fmt.Sprintf("1@127.0.0.1:%d,2@127.0.0.1:%d", p1, p2)
	cluster := []string{
		"controller.quorum.voters", voters,
		"controller.listener.names", "CONTROLLER",
		"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE:SSL",
	}
	for _, c := range []struct {
		name string
		kv   []string
		want string
	}{
		{"broker role without voters", []string{"process.roles", "broker"}, "controller.quorum.voters"},
		{"dynamic quorum", []string{"controller.quorum.bootstrap.servers", "127.0.0.1:9093"}, "controller.quorum.bootstrap.servers"},
		{"TLS listener", []string{"listeners", "SECURE://127.0.0.1:0", "listener.security.protocol.map", "SECURE:SSL"}, "listener.security.protocol.map"},
		{"inter-broker listener not bound", []string{"listeners", "PLAINTEXT://127.0.0.1:0,SECOND://127.0.0.1:0", "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SECOND:PLAINTEXT",
			"inter.broker.listener.name", "THIRD"}, "inter.broker.listener.name"},
		{"inter-broker listener not advertised", []string{"listeners", "PLAINTEXT://127.0.0.1:0,REPLICATION://127.0.0.1:0", "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
			"inter.broker.listener.name", "REPLICATION", "advertised.listeners", "PLAINTEXT://127.0.0.1:9092"}, "advertised.listeners"},
		{"wildcard address advertised in a cluster", append([]string{"process.roles", "broker,controller", "node.id", "1",
			"listeners", fmt.Sprintf("PLAINTEXT://0.0.0.0:0,CONTROLLER://127.0.0.1:%d", p1)}, cluster...), "advertised.listeners"},
		// A controller whose node.id is not among the voters is no longer
		// refused: it joins the quorum once added (KIP-853, quorum_test.go).
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := []fjord.Option{fjord.WithDataDir(t.TempDir())}
			for i := 0; i+1 < len(c.kv); i += 2 {
				opts = append(opts, fjord.WithConfig(c.kv[i], c.kv[i+1]))
			}
			err := startErr(opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("start: %v, want an error naming %s", err, c.want)
			}
		})
	}

	// A data folder of one quorum, started with another voter list.
	dir := t.TempDir()
	n, err := fjord.NewNode(fjord.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_ = n.Close()
	err = startErr(fjord.WithDataDir(dir), fjord.WithConfig("controller.quorum.voters", voters),
		fjord.WithConfig("controller.listener.names", "CONTROLLER"),
		fjord.WithConfig("listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:%d", p1)),
		fjord.WithConfig("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"))
	if err == nil || !strings.Contains(err.Error(), "controller.quorum.voters") {
		t.Fatalf("a folder of a one-voter quorum started with two voters: %v", err)
	}
	// The folder of node 1 started as node 2.
	err = startErr(fjord.WithDataDir(dir), fjord.WithConfig("node.id", "2"))
	if err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Fatalf("a folder of node 1 started as node 2: %v", err)
	}
}

func startErr(opts ...fjord.Option) error {
	n, err := fjord.NewNode(opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = n.Start(ctx)
	_ = n.Close()
	return err
}
