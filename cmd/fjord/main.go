// Command fjord is the single Fjord binary: `fjord server` runs a broker,
// `fjord dev cluster` a local multi-node cluster, and the other verbs
// (topic, produce, consume, cluster, storage, bench) are Kafka clients for
// any Kafka-compatible cluster or, for storage, Kafka's data-folder tools.
package main

import (
	"os"

	"github.com/fjordstream/fjord/internal/cli"
)

func main() {
	root := cli.NewRoot(serverCommand(), devCommand(), connectCommand(), consoleCommand())
	os.Exit(cli.Execute(root, os.Args[1:], os.Stdout, os.Stderr))
}
