package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// apiJSON is one API key a broker serves.
type apiJSON struct {
	Key        int16  `json:"key"`
	Name       string `json:"name"`
	MinVersion int16  `json:"min_version"`
	MaxVersion int16  `json:"max_version"`
	// Usable is the highest version both the broker and this client speak,
	// -1 if none (kafka-broker-api-versions.sh's "usable").
	Usable int16 `json:"usable"`
}

// brokerAPIsJSON is one broker in `cluster api-versions`' JSON result.
type brokerAPIsJSON struct {
	NodeID int32     `json:"node_id"`
	Host   string    `json:"host"`
	Port   int32     `json:"port"`
	APIs   []apiJSON `json:"apis"`
	Error  string    `json:"error,omitempty"`
}

func newClusterAPIVersionsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "api-versions",
		Short: "List the API versions every broker supports (kafka-broker-api-versions.sh)",
		Args:  checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			m, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return opErr("cluster metadata", err, "")
			}
			vs, err := adm.ApiVersions(ctx)
			if err != nil {
				return opErr("api versions", err, "")
			}
			client := kversion.Stable()
			var (
				out      []brokerAPIsJSON
				firstErr error
			)
			for _, b := range m.Brokers {
				bj := brokerAPIsJSON{NodeID: b.NodeID, Host: b.Host, Port: b.Port, APIs: []apiJSON{}}
				v, ok := vs[b.NodeID]
				switch {
				case !ok:
					bj.Error = "no response"
				case v.Err != nil:
					bj.Error = errName(v.Err)
					if firstErr == nil {
						firstErr = opErr(fmt.Sprintf("api versions of broker %d", b.NodeID), v.Err, "")
					}
				default:
					v.EachKeySorted(func(key, lo, hi int16) {
						usable := int16(-1)
						if cmax, ok := client.LookupMaxKeyVersion(key); ok && cmax >= lo {
							usable = min(cmax, hi)
						}
						bj.APIs = append(bj.APIs, apiJSON{Key: key, Name: kmsg.NameForKey(key), MinVersion: lo, MaxVersion: hi, Usable: usable})
					})
				}
				out = append(out, bj)
			}
			if err := printAPIVersions(cmd.OutOrStdout(), g, out); err != nil {
				return err
			}
			return firstErr
		}),
	}
}

func printAPIVersions(w io.Writer, g *globals, out []brokerAPIsJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	for i, b := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s:%d (id: %d) -> (\n", b.Host, b.Port, b.NodeID)
		if b.Error != "" {
			fmt.Fprintf(w, "\terror: %s\n)\n", b.Error)
			continue
		}
		for j, a := range b.APIs {
			name := a.Name
			if name == "" {
				name = "Unknown"
			}
			usable := "NONE"
			if a.Usable >= 0 {
				usable = fmt.Sprint(a.Usable)
			}
			sep := ","
			if j == len(b.APIs)-1 {
				sep = ""
			}
			fmt.Fprintf(w, "\t%s(%d): %d to %d [usable: %s]%s\n", name, a.Key, a.MinVersion, a.MaxVersion, usable, sep)
		}
		fmt.Fprintln(w, ")")
	}
	return nil
}
