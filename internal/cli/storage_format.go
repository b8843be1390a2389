package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/config"
)

// metaPropertiesFile is the file a formatted data folder holds: version=1,
// node.id and cluster.id, the form a Fjord node writes on first start and
// checks on every start (and Kafka's KRaft meta.properties, less
// directory.id).
const metaPropertiesFile = "meta.properties"

// formatJSON is one data folder in `storage format`'s JSON result.
type formatJSON struct {
	Dir       string `json:"dir"`
	NodeID    int32  `json:"node_id"`
	ClusterID string `json:"cluster_id"`
	// Result is "formatted", or "already_formatted" (same cluster and
	// node, with --ignore-formatted).
	Result string `json:"result"`
}

func newStorageFormatCmd(g *globals) *cobra.Command {
	var (
		clusterID, configFile string
		ignoreFormatted       bool
	)
	cmd := &cobra.Command{
		Use:   "format --cluster-id ID --config FILE",
		Short: "Format a node's data folders with a cluster ID (kafka-storage.sh format)",
		Long: `Write meta.properties (version=1, node.id, cluster.id) into every data folder of the
node that FILE configures (log.dirs, else log.dir; node.id), as kafka-storage.sh format
does. Every node of a cluster is formatted with the same ID (make one with
fjord storage random-uuid); a node then refuses a folder of another cluster.

A folder already formatted for another cluster ID or node ID is refused. One
formatted for the same cluster and node is an error too, as in Kafka, unless
--ignore-formatted is given. Nothing is written unless every folder can be.

Fjord does not require this step: a node formats an empty folder itself on first
start (cluster.id if set, else an ID derived from controller.quorum.voters).`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if clusterID == "" || configFile == "" {
				return usagef("--cluster-id and --config are required")
			}
			if err := checkUUID(clusterID); err != nil {
				return usageErr(fmt.Errorf("--cluster-id: %w", err))
			}
			out, err := formatStorage(configFile, clusterID, ignoreFormatted, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			for _, f := range out {
				if f.Result == "formatted" {
					fmt.Fprintf(cmd.OutOrStdout(), "Formatted %s: cluster.id=%s node.id=%d\n", f.Dir, f.ClusterID, f.NodeID)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s is already formatted: cluster.id=%s node.id=%d\n", f.Dir, f.ClusterID, f.NodeID)
				}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&clusterID, "cluster-id", "t", "", "the cluster ID (fjord storage random-uuid)")
	f.StringVarP(&configFile, "config", "c", "", "the node's server.properties")
	f.BoolVarP(&ignoreFormatted, "ignore-formatted", "g", false, "accept folders already formatted for this cluster and node")
	return cmd
}

// formatStorage checks every data folder of the node configured in
// configFile, then writes meta.properties into the unformatted ones.
func formatStorage(configFile, clusterID string, ignoreFormatted bool, warn io.Writer) ([]formatJSON, error) {
	f, err := os.Open(configFile)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	props, err := config.ParseProperties(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", configFile, err)
	}
	b, warnings, err := config.LoadBroker(props)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", configFile, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(warn, "Warning: %s\n", w)
	}
	if b.ClusterID != "" && b.ClusterID != clusterID {
		return nil, fmt.Errorf("config %s sets cluster.id=%s, but --cluster-id is %s: the node would refuse the folder", configFile, b.ClusterID, clusterID)
	}
	if _, set := props["node.id"]; !set {
		fmt.Fprintf(warn, "Warning: %s does not set node.id; formatting for node.id=%d (the default)\n", configFile, b.NodeID)
	}
	var out []formatJSON
	for _, dir := range b.LogDirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("log.dirs %s: %w", dir, err)
		}
		r := formatJSON{Dir: abs, NodeID: b.NodeID, ClusterID: clusterID, Result: "formatted"}
		have, err := readMeta(abs)
		if err != nil {
			return nil, err
		}
		if have != nil {
			path := filepath.Join(abs, metaPropertiesFile)
			if have["cluster.id"] != clusterID || have["node.id"] != strconv.Itoa(int(b.NodeID)) {
				return nil, fmt.Errorf("%s is formatted for cluster.id=%s node.id=%s, not cluster.id=%s node.id=%d; refusing to reformat it (remove the folder to start over)",
					path, have["cluster.id"], have["node.id"], clusterID, b.NodeID)
			}
			if !ignoreFormatted {
				return nil, fmt.Errorf("%s is already formatted for this cluster and node; pass --ignore-formatted to accept it", abs)
			}
			r.Result = "already_formatted"
		}
		out = append(out, r)
	}
	for _, r := range out {
		if r.Result != "formatted" {
			continue
		}
		text := "#Written by Fjord. Do not edit.\nversion=1\nnode.id=" + strconv.Itoa(int(r.NodeID)) + "\ncluster.id=" + r.ClusterID + "\n"
		if err := writeFileAtomic(r.Dir, metaPropertiesFile, []byte(text)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readMeta reads dir's meta.properties, nil if there is none.
func readMeta(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, metaPropertiesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metaPropertiesFile, err)
	}
	props, err := config.ParseProperties(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", metaPropertiesFile, dir, err)
	}
	if v := props["version"]; v != "1" {
		return nil, fmt.Errorf("%s in %s has version=%q; only version=1 (KRaft) is known", metaPropertiesFile, dir, v)
	}
	return props, nil
}

// writeFileAtomic creates dir if needed and replaces dir/name with data:
// a synced temporary file renamed over it, then the folder synced, so a
// crash leaves the old file or the new one.
func writeFileAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data folder %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s in %s: %w", name, dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
