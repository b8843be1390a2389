package cli

// Cordoned brokers (KIP-1066): a broker whose cordoned.log.dirs covers all
// its log directories receives no new replicas. fjord cluster decommission
// --execute cordons the broker it empties, so that neither topic creation
// nor the controller's continuous balancer puts replicas back on it;
// --cancel removes the cordon. Rebalance plans leave cordoned brokers out of
// their targets.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
)

// readCordoned returns the brokers of ids whose cordoned.log.dirs is set
// (any value: a Fjord node has one log directory; Kafka accepts only paths
// of the broker's log.dirs, or *). DescribeConfigs on a broker resource is
// answered by that broker only, so only live brokers can be asked; a
// cluster that does not know the key (Kafka before KIP-1066) has none.
func readCordoned(ctx context.Context, adm *kadm.Client, ids []int32) ([]int32, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, ids...)
	if err != nil {
		return nil, opErr("describe broker configs", err, "")
	}
	var out []int32
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, opErr("describe the configs of broker "+rc.Name, rc.Err, rc.ErrMessage)
		}
		for _, c := range rc.Configs {
			if c.Key == config.CordonedLogDirs && strings.TrimSpace(c.MaybeValue()) != "" {
				id, err := strconv.ParseInt(rc.Name, 10, 32)
				if err != nil {
					return nil, opErr("describe broker configs", fmt.Errorf("unexpected broker resource %q", rc.Name), "")
				}
				out = append(out, int32(id))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// setCordon sets cordoned.log.dirs=* on broker id (cordon), or deletes it
// (!cordon), with IncrementalAlterConfigs on the BROKER resource "id", as
// kafka-configs.sh --entity-type brokers --entity-name id does.
func setCordon(ctx context.Context, adm *kadm.Client, id int32, cordon bool) error {
	op := kadm.AlterConfig{Op: kadm.DeleteConfig, Name: config.CordonedLogDirs}
	what := "uncordon broker " + strconv.Itoa(int(id))
	if cordon {
		all := config.CordonAll
		op = kadm.AlterConfig{Op: kadm.SetConfig, Name: config.CordonedLogDirs, Value: &all}
		what = "cordon broker " + strconv.Itoa(int(id))
	}
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{op}, id)
	if err == nil {
		err = alterConfigsErr(resp)
	}
	if err != nil {
		return opErr(what+" ("+config.CordonedLogDirs+")", err, "")
	}
	return nil
}

// cordonForDecommission cordons the broker a decommission --execute
// empties, before its moves start. A broker that is not running cannot be
// asked (Kafka's brokers take their own BROKER resource only) and takes no
// replicas anyway; a cluster that refuses the key (Kafka before KIP-1066)
// gets a warning, and the decommission goes on as before cordoning existed.
func cordonForDecommission(parent context.Context, w, errw io.Writer, g *globals, adm *kadm.Client, id int32, live []int32) error {
	if !slices.Contains(live, id) {
		fmt.Fprintf(errw, "Broker %d is not running: not cordoned (%s).\n", id, config.CordonedLogDirs)
		return nil
	}
	ctx, cancel := g.opCtx(parent)
	err := setCordon(ctx, adm, id, true)
	cancel()
	if errors.Is(err, kerr.InvalidConfig) || errors.Is(err, kerr.InvalidRequest) {
		fmt.Fprintf(errw, "Warning: %v; new topics may still place replicas on broker %d.\n", err, id)
		return nil
	}
	if err != nil {
		return err
	}
	if !g.json() {
		fmt.Fprintf(w, "Broker %d cordoned (%s=%s): it receives no new replicas; `fjord cluster decommission %d --cancel` removes the cordon.\n",
			id, config.CordonedLogDirs, config.CordonAll, id)
	}
	return nil
}

// cancelDecommission is decommission --cancel: the cordon is removed, so
// the broker receives new replicas again (and the continuous balancer, if
// on, moves replicas back onto it). Replicas already moved stay where they
// are; reassignments still running go on (fjord cluster reassign --cancel
// stops them).
func cancelDecommission(cmd *cobra.Command, g *globals, id int32) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := g.adminOf(cl)
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()
	if err := setCordon(ctx, adm, id, false); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, struct {
			Broker   int32 `json:"broker"`
			Cordoned bool  `json:"cordoned"`
		}{id, false})
	}
	fmt.Fprintf(w, "Broker %d uncordoned (%s removed): it receives new replicas again.\n", id, config.CordonedLogDirs)
	return nil
}
