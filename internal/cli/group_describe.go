package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupPartitionJSON is one partition row of `group describe`: the group's
// committed offset against the log end offset, and who consumes it.
type groupPartitionJSON struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset *int64 `json:"committed_offset"` // null: nothing committed
	LogEndOffset    *int64 `json:"log_end_offset"`   // null: could not be listed
	Lag             *int64 `json:"lag"`              // null without a commit, as Kafka's tool shows "-"
	MemberID        string `json:"member_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	Host            string `json:"host,omitempty"`
	Error           string `json:"error,omitempty"`
}

// groupMemberJSON is one member of a described group.
type groupMemberJSON struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	Host       string             `json:"host"`
	Assigned   map[string][]int32 `json:"assigned"`
}

// groupCoordinatorJSON is the broker coordinating a group.
type groupCoordinatorJSON struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// groupDescribeJSON is one group in `group describe`'s JSON result.
type groupDescribeJSON struct {
	Group        string               `json:"group"`
	State        string               `json:"state,omitempty"`
	ProtocolType string               `json:"protocol_type,omitempty"`
	Protocol     string               `json:"protocol,omitempty"`
	Coordinator  groupCoordinatorJSON `json:"coordinator"`
	TotalLag     int64                `json:"total_lag"`
	Partitions   []groupPartitionJSON `json:"partitions"`
	Members      []groupMemberJSON    `json:"members"`
	Error        string               `json:"error,omitempty"`
}

func newGroupDescribeCmd(g *globals) *cobra.Command {
	var watch watchFlags
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Describe consumer groups: state, members, committed offsets and lag per partition",
		Long: `Describe groups as kafka-consumer-groups.sh --describe does: for every
partition the group is assigned or has committed, the committed offset, the
log end offset, the lag and the consuming member; members with no partitions
are listed too, with "-" for topic and partition. Lag is "-" where the group
has committed nothing. --watch describes again every --watch-interval.`,
		Args: checkArgs(cobra.MinimumNArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			args = dedup(args)
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			return watch.run(cmd.Context(), cmd, g, func() error { return describeGroupsOnce(cmd, g, adm, args) })
		}),
	}
	watch.register(cmd)
	return cmd
}

// describeGroupsOnce describes the groups and prints them.
func describeGroupsOnce(cmd *cobra.Command, g *globals, adm *kadm.Client, args []string) error {
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()
	lags, err := adm.Lag(ctx, args...)
	if err != nil {
		return groupErr("describe groups", err, "")
	}
	var (
		out      []groupDescribeJSON
		firstErr error
	)
	for _, name := range args {
		l, ok := lags[name]
		if !ok {
			l = kadm.DescribedGroupLag{Group: name, DescribeErr: errors.New("broker's response did not mention the group")}
		}
		d, err := groupDescription(l)
		if isNotFound(err) {
			// Perhaps a consumer protocol (KIP-848) group.
			if cd, found, cerr := describeConsumerGroup(ctx, adm, name); found {
				d, err = cd, cerr
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		out = append(out, d)
	}
	if err := printGroupDescribe(cmd.OutOrStdout(), g, out); err != nil {
		return err
	}
	return firstErr
}

// isNotFound reports a group the broker does not know.
func isNotFound(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && errors.Is(ce.err, kerr.GroupIDNotFound)
}

// groupDescription turns kadm's view of one group into the result, or the
// group's error. A group the broker does not know is GROUP_ID_NOT_FOUND:
// brokers before DescribeGroups v6 report it as Dead and empty instead.
func groupDescription(l kadm.DescribedGroupLag) (groupDescribeJSON, error) {
	d := groupDescribeJSON{
		Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: groupCoordinatorJSON{ID: l.Coordinator.NodeID, Host: l.Coordinator.Host, Port: l.Coordinator.Port},
		Partitions:  []groupPartitionJSON{}, Members: []groupMemberJSON{},
	}
	if err := l.Error(); err != nil {
		d.Error = errName(err)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return d, groupNotFound(l.Group)
		}
		return d, groupErr(fmt.Sprintf("describe consumer group %q", l.Group), err, "")
	}
	if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag.Sorted()) == 0 {
		d.Error = errName(kerr.GroupIDNotFound)
		return d, groupNotFound(l.Group)
	}
	for _, ml := range l.Lag.Sorted() {
		p := groupPartitionJSON{Topic: ml.Topic, Partition: ml.Partition}
		if ml.Commit.At >= 0 {
			p.CommittedOffset = int64Ptr(ml.Commit.At)
		}
		if ml.End.Err == nil && ml.End.Offset >= 0 {
			p.LogEndOffset = int64Ptr(ml.End.Offset)
		}
		if ml.Err != nil {
			p.Error = errName(ml.Err)
		} else if p.CommittedOffset != nil {
			p.Lag = int64Ptr(ml.Lag)
			d.TotalLag += ml.Lag
		}
		if ml.Member != nil {
			p.MemberID, p.ClientID, p.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		d.Partitions = append(d.Partitions, p)
	}
	for _, m := range l.Members {
		mj := groupMemberJSON{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			mj.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if len(t.Partitions) > 0 {
					mj.Assigned[t.Topic] = append(mj.Assigned[t.Topic], t.Partitions...)
				}
			}
		}
		d.Members = append(d.Members, mj)
	}
	return d, nil
}

func printGroupDescribe(w io.Writer, g *globals, out []groupDescribeJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Group: %s\n", d.Group)
		if d.Error != "" {
			fmt.Fprintf(w, "  Error:       %s\n", d.Error)
			continue
		}
		fmt.Fprintf(w, "  State:       %s\n", orDash(d.State))
		proto := orDash(d.ProtocolType)
		if d.Protocol != "" {
			proto += " (" + d.Protocol + ")"
		}
		fmt.Fprintf(w, "  Protocol:    %s\n", proto)
		c := d.Coordinator
		fmt.Fprintf(w, "  Coordinator: %d (%s)\n", c.ID, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))))
		fmt.Fprintf(w, "  Members:     %d\n", len(d.Members))
		fmt.Fprintf(w, "  Total lag:   %d\n", d.TotalLag)
		t := newTable("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
		for _, p := range d.Partitions {
			lag := optInt64(p.Lag)
			if p.Error != "" {
				lag += " (" + p.Error + ")"
			}
			t.add(p.Topic, p.Partition, optInt64(p.CommittedOffset), optInt64(p.LogEndOffset), lag,
				orDash(p.MemberID), orDash(p.Host), orDash(p.ClientID))
		}
		// Members with nothing assigned still show, as Kafka's tool does.
		for _, m := range d.Members {
			if len(m.Assigned) == 0 {
				t.add("-", "-", "-", "-", "-", m.MemberID, orDash(m.Host), orDash(m.ClientID))
			}
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
	}
	return nil
}
