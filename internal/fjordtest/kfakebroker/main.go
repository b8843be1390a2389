// Command kfakebroker is a stand-in for `fjord server` built on franz-go's
// kfake, used only by the e2e suites when FJORD_E2E_TARGET=kfake. It speaks
// the same process contract as the real binary so that fjordtest's process
// runner, the fault proxy and the e2e tests can be developed and checked
// before (or independently of) the real broker:
//
//	kfakebroker server --data-dir DIR [--override key=value]... [--config file]
//
// prints one line containing `bootstrap=HOST:PORT` once it listens, and shuts
// down cleanly on SIGTERM or SIGINT. State persists in DIR (kfake's DataDir),
// so a restart on the same directory sees earlier records.
//
// Keys understood: listeners, advertised.listeners, auto.create.topics.enable
// (default true, as in Kafka), num.partitions (default 1, as in Kafka); any
// other key is passed to kfake.BrokerConfigs. Two deliberate departures from
// plain kfake, both to behave as Kafka does for the clients under test:
// auto-creation on Metadata v0-v3 (which carry no AllowAutoTopicCreation
// field), and advertising advertised.listeners instead of the bound address.
//
// This is not Fjord and proves nothing about Fjord; it exists so that a test
// failing against Fjord can be told apart from a test that is itself wrong.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "kfakebroker: %v\n", err)
		os.Exit(1)
	}
}

// overrides collects repeated --override key=value flags in order.
type overrides map[string]string

func (o overrides) String() string { return fmt.Sprint(map[string]string(o)) }

func (o overrides) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("override %q: want key=value", s)
	}
	o[strings.TrimSpace(k)] = strings.TrimSpace(v)
	return nil
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "server" {
		return errors.New("usage: kfakebroker server --data-dir DIR [--override k=v]... [--config file]")
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory holding the broker's state")
	configFile := fs.String("config", "", "properties file (key=value lines)")
	ov := overrides{}
	fs.Var(ov, "override", "key=value, repeatable; wins over --config")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("--data-dir is required")
	}
	conf := map[string]string{}
	if *configFile != "" {
		if err := readProperties(*configFile, conf); err != nil {
			return err
		}
	}
	for k, v := range ov {
		conf[k] = v
	}
	return serve(*dataDir, conf)
}

// readProperties reads a Java-style properties file: key=value lines, # and !
// comments. Continuation lines and escapes are not needed by the tests.
func readProperties(path string, into map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("config %s: line %q: want key=value", path, line)
		}
		into[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// listenerAddr turns "PLAINTEXT://host:port" (first entry of a list) into
// host:port.
func listenerAddr(key, v string) (string, error) {
	first, _, _ := strings.Cut(v, ",")
	_, hp, ok := strings.Cut(first, "://")
	if !ok {
		return "", fmt.Errorf("%s=%q: want NAME://host:port", key, v)
	}
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return "", fmt.Errorf("%s=%q: %w", key, v, err)
	}
	return hp, nil
}

// advertisingListener reports the advertised address as its own, because
// kfake puts its listener's Addr() into Metadata and FindCoordinator.
type advertisingListener struct {
	net.Listener
	advertised net.Addr
}

func (l advertisingListener) Addr() net.Addr { return l.advertised }

func serve(dataDir string, conf map[string]string) error {
	bind := "127.0.0.1:0"
	if v, ok := conf["listeners"]; ok {
		a, err := listenerAddr("listeners", v)
		if err != nil {
			return err
		}
		bind = a
	}
	var advertised net.Addr
	if v, ok := conf["advertised.listeners"]; ok {
		a, err := listenerAddr("advertised.listeners", v)
		if err != nil {
			return err
		}
		ta, err := net.ResolveTCPAddr("tcp", a)
		if err != nil {
			return fmt.Errorf("advertised.listeners: %w", err)
		}
		advertised = ta
	}
	autoCreate := true
	if v, ok := conf["auto.create.topics.enable"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("auto.create.topics.enable=%q: %w", v, err)
		}
		autoCreate = b
	}
	numPartitions := 1
	if v, ok := conf["num.partitions"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("num.partitions=%q: want a positive integer", v)
		}
		numPartitions = n
	}
	rest := map[string]string{}
	for k, v := range conf {
		switch k {
		case "listeners", "advertised.listeners", "auto.create.topics.enable", "num.partitions":
		default:
			rest[k] = v
		}
	}

	var bound net.Addr
	listen := func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, bind)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", bind, err)
		}
		bound = ln.Addr()
		if advertised != nil {
			return advertisingListener{Listener: ln, advertised: advertised}, nil
		}
		return ln, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.DataDir(dataDir),
		kfake.DefaultNumPartitions(numPartitions),
		kfake.ClusterID("kfake-stand-in"),
	}
	if len(rest) > 0 {
		opts = append(opts, kfake.BrokerConfigs(rest))
	}
	if autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	if autoCreate {
		// Kafka auto-creates named topics on Metadata v0-v3, which have no
		// AllowAutoTopicCreation field; kfake reads the absent field as false.
		c.ControlKey(int16(kmsg.Metadata), func(r kmsg.Request) (kmsg.Response, error, bool) {
			if m, ok := r.(*kmsg.MetadataRequest); ok && m.Version < 4 {
				m.AllowAutoTopicCreation = true
			}
			return nil, nil, false
		})
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("kfake stand-in broker ready: bootstrap=%s data=%s\n", bound, dataDir)
	s := <-sig
	fmt.Printf("kfake stand-in broker: %s, shutting down\n", s)
	c.Close()
	fmt.Println("kfake stand-in broker: stopped")
	return nil
}
