package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys of KIP-853's voter changes.
const (
	addRaftVoterKey    = 80
	removeRaftVoterKey = 81
)

// quorumChange is what `quorum add` and `quorum remove` were given.
type quorumChange struct {
	id       int32
	dir      string
	endpoint string
	listener string
}

func newClusterQuorumAddCmd(g *globals) *cobra.Command {
	var o quorumChange
	cmd := &cobra.Command{
		Use:     "add --controller-id N --controller-endpoint HOST:PORT",
		Aliases: []string{"add-controller"},
		Short:   "Make a running controller a voter of the metadata quorum (KIP-853 AddRaftVoter)",
		Long: `Add a controller to the metadata quorum while the cluster runs, as
kafka-metadata-quorum.sh add-controller does, through AddRaftVoter (API key 80); any
broker forwards it to the active controller.

Start the new controller first: a node with process.roles including controller whose
node.id is not in controller.quorum.voters waits, outside the quorum, to be added. The
active controller brings it up to date as a learner (it does not count for commits or
elections), then makes it a voter once its log has caught up; the command returns then,
or fails at --timeout with the node taken out again. One voter changes at a time, so the
old and the new voter sets can never both elect a leader.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if o.id <= 0 || o.endpoint == "" {
				return usagef("give --controller-id and --controller-endpoint")
			}
			host, portStr, err := net.SplitHostPort(o.endpoint)
			port, perr := strconv.ParseUint(portStr, 10, 16)
			if err != nil || perr != nil || host == "" || port == 0 {
				return usagef("--controller-endpoint %q: want host:port", o.endpoint)
			}
			dir, err := parseDirectoryID(o.dir)
			if err != nil {
				return err
			}
			req := kmsg.NewPtrAddRaftVoterRequest()
			req.VoterID, req.VoterDirectoryID = o.id, dir
			req.AckWhenCommitted = true
			l := kmsg.NewAddRaftVoterRequestListener()
			l.Name, l.Host, l.Port = o.listener, host, uint16(port)
			req.Listeners = append(req.Listeners, l)
			return changeQuorum(cmd, g, req, addRaftVoterKey, "add controller",
				fmt.Sprintf("Added controller %d with endpoint %s://%s to the metadata quorum", o.id, o.listener, o.endpoint))
		}),
	}
	f := cmd.Flags()
	f.Int32Var(&o.id, "controller-id", 0, "the node.id of the controller to add")
	f.StringVar(&o.endpoint, "controller-endpoint", "", "its controller listener, host:port, as the other controllers reach it")
	f.StringVar(&o.listener, "controller-listener-name", "CONTROLLER", "the name of that listener (controller.listener.names)")
	f.StringVar(&o.dir, "controller-directory-id", "", "its metadata log's directory ID (optional; remove then checks it)")
	return cmd
}

func newClusterQuorumRemoveCmd(g *globals) *cobra.Command {
	var o quorumChange
	cmd := &cobra.Command{
		Use:     "remove --controller-id N",
		Aliases: []string{"remove-controller"},
		Short:   "Take a controller out of the metadata quorum's voters (KIP-853 RemoveRaftVoter)",
		Long: `Remove a voter from the metadata quorum while the cluster runs, as
kafka-metadata-quorum.sh remove-controller does, through RemoveRaftVoter (API key 81).
The active controller may remove itself: it hands over once the change is committed.
Stop the removed node afterwards; its data folder may then be wiped and reused for a
fresh node, which joins as any new controller does (fjord cluster quorum add). With
--controller-directory-id, the voter is removed only if it was added with that ID.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if o.id <= 0 {
				return usagef("give --controller-id")
			}
			dir, err := parseDirectoryID(o.dir)
			if err != nil {
				return err
			}
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID, req.VoterDirectoryID = o.id, dir
			return changeQuorum(cmd, g, req, removeRaftVoterKey, "remove controller",
				fmt.Sprintf("Removed controller %d from the metadata quorum", o.id))
		}),
	}
	f := cmd.Flags()
	f.Int32Var(&o.id, "controller-id", 0, "the node.id of the voter to remove")
	f.StringVar(&o.dir, "controller-directory-id", "", "remove it only if its directory ID is this one")
	return cmd
}

// changeQuorum sends a voter change, reports its error, and prints done
// and the voters after it.
func changeQuorum(cmd *cobra.Command, g *globals, req kmsg.Request, key int16, op, done string) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()
	if apis, err := supportedAPIs(ctx, cl); err == nil && !apis.serves(key, 0) {
		e := opErr(op, kerr.UnsupportedVersion, fmt.Sprintf("the broker does not serve %s (API key %d)", kmsg.NameForKey(key), key))
		e.hint = "KIP-853 (Kafka 3.9+) brokers serve it; `fjord cluster api-versions` lists what this one serves"
		return e
	}
	if t, ok := req.(interface{ SetTimeout(int32) }); ok {
		if dl, ok := ctx.Deadline(); ok {
			// The controller's own deadline ends before ours, so its
			// answer (a taken-out learner, say) still reaches us.
			t.SetTimeout(int32(max(time.Until(dl)*9/10, time.Millisecond) / time.Millisecond))
		}
	}
	code, msg, err := sendQuorumChange(ctx, cl, req)
	if err != nil {
		return opErr(op, err, "")
	}
	if code != 0 {
		return opErr(op, kerr.ErrorForCode(code), deref(msg))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, done)
	if q, err := describeQuorum(ctx, cl); err == nil {
		fmt.Fprintf(w, "CurrentVoters: %s\n", memberList(q, q.CurrentVoters))
	}
	return nil
}

// sendQuorumChange sends an AddRaftVoter or RemoveRaftVoter request and
// returns its error code and message.
func sendQuorumChange(ctx context.Context, cl *kgo.Client, req kmsg.Request) (int16, *string, error) {
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	switch r := resp.(type) {
	case *kmsg.AddRaftVoterResponse:
		return r.ErrorCode, r.ErrorMessage, nil
	case *kmsg.RemoveRaftVoterResponse:
		return r.ErrorCode, r.ErrorMessage, nil
	}
	return 0, nil, fmt.Errorf("unexpected response %T", resp)
}

// parseDirectoryID reads a directory ID as Kafka prints it (URL-safe
// base64 of 16 bytes); "" is none.
func parseDirectoryID(s string) ([16]byte, error) {
	var id [16]byte
	if s == "" {
		return id, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, usagef("directory ID %q: want a Kafka UUID (22 characters of URL-safe base64)", s)
	}
	copy(id[:], b)
	return id, nil
}
