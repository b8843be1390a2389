// Command fjord is the single Fjord binary: `fjord server` runs a broker,
// and the other verbs (topic, produce, consume, cluster, bench) are Kafka
// clients for any Kafka-compatible cluster.
package main

import (
	"os"

	"github.com/fjordstream/fjord/internal/cli"
)

func main() {
	root := cli.NewRoot(serverCommand())
	os.Exit(cli.Execute(root, os.Args[1:], os.Stdout, os.Stderr))
}
