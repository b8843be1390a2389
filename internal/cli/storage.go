package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newStorageCmd is the `storage` noun: kafka-storage.sh's verbs, which
// work on a node's data folders and reach no broker.
func newStorageCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("storage", "Prepare a node's data folders: format them, make a cluster ID (kafka-storage.sh)")
	cmd.AddCommand(newStorageFormatCmd(g), newStorageRandomUUIDCmd(g))
	return cmd
}

func newStorageRandomUUIDCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "random-uuid",
		Short: "Print a new random cluster ID (kafka-storage.sh random-uuid)",
		Long: `Print a new random UUID in Kafka's form (22 characters of URL-safe base64, no
padding), for storage format --cluster-id or cluster.id.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			id, err := randomUUID()
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"uuid": id})
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		}),
	}
}

// randomUUID makes a version 4 UUID rendered as Kafka's Uuid.toString
// does; like Kafka's Uuid.randomUuid it never starts with '-' (which a
// command line would take for a flag).
func randomUUID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("random uuid: %w", err)
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if !strings.HasPrefix(s, "-") {
			return s, nil
		}
	}
}

// checkUUID accepts what Kafka's Uuid.fromString accepts: 16 bytes of
// URL-safe base64 without padding, not all zeros.
func checkUUID(s string) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return fmt.Errorf("%q is not a UUID in Kafka's form (22 characters of URL-safe base64); make one with `fjord storage random-uuid`", s)
	}
	if string(b) == string(make([]byte, 16)) {
		return fmt.Errorf("%q is the zero UUID, which Kafka reserves", s)
	}
	return nil
}
