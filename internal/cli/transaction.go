package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// newTransactionCmd is the `transaction` noun: kafka-transactions.sh's
// actions as subcommands.
func newTransactionCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("transaction", "List, describe, abort and find hanging transactions (kafka-transactions.sh)", "transactions", "txn")
	cmd.AddCommand(newTxnListCmd(g), newTxnDescribeCmd(g), newTxnAbortCmd(g), newTxnFindHangingCmd(g))
	return cmd
}

// txnErr wraps a failed transaction operation with a hint.
func txnErr(op string, err error, detail string) *cmdError {
	e := opErr(op, err, detail)
	switch {
	case errors.Is(err, kerr.TransactionalIDNotFound):
		e.hint = "list transactional IDs with `fjord transaction list`"
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.NotCoordinator):
		e.hint = "the transaction coordinator is not ready; retry in a moment"
	}
	return e
}

// txnListJSON is one transaction in `transaction list`'s JSON result.
type txnListJSON struct {
	TransactionalID string `json:"transactional_id"`
	Coordinator     int32  `json:"coordinator"`
	ProducerID      int64  `json:"producer_id"`
	State           string `json:"state"`
}

func newTxnListCmd(g *globals) *cobra.Command {
	var states []string
	var pids []int64
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the transactional IDs every broker coordinates (kafka-transactions.sh list)",
		Args:    checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			listed, err := adm.ListTransactions(ctx, pids, states)
			if err != nil {
				return txnErr("list transactions", err, "")
			}
			out := []txnListJSON{}
			for _, l := range listed.Sorted() {
				out = append(out, txnListJSON{TransactionalID: l.TxnID, Coordinator: l.Coordinator, ProducerID: l.ProducerID, State: l.State})
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(w, "No transactional IDs.")
				return nil
			}
			t := newTable("TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE")
			for _, o := range out {
				t.add(o.TransactionalID, o.Coordinator, o.ProducerID, o.State)
			}
			return t.write(w, "")
		}),
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only transactions in this state (Ongoing, PrepareCommit, CompleteAbort, ...; repeatable)")
	cmd.Flags().Int64SliceVar(&pids, "producer-id", nil, "only transactions of this producer ID (repeatable)")
	return cmd
}

// txnDescribeJSON is `transaction describe`'s JSON result.
type txnDescribeJSON struct {
	TransactionalID string   `json:"transactional_id"`
	Coordinator     int32    `json:"coordinator"`
	ProducerID      int64    `json:"producer_id"`
	ProducerEpoch   int16    `json:"producer_epoch"`
	State           string   `json:"state"`
	TimeoutMs       int32    `json:"transaction_timeout_ms"`
	StartTimeMs     int64    `json:"current_transaction_start_time_ms"` // -1 when none is open
	DurationMs      int64    `json:"transaction_duration_ms"`           // -1 when none is open
	Partitions      []string `json:"topic_partitions"`
}

func newTxnDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID",
		Short: "Describe a transactional ID at its coordinator (kafka-transactions.sh describe)",
		Args:  checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			described, err := adm.DescribeTransactions(ctx, args[0])
			if err != nil {
				return txnErr("describe transaction", err, args[0])
			}
			d, ok := described[args[0]]
			if !ok {
				return txnErr("describe transaction", kerr.TransactionalIDNotFound, args[0])
			}
			if d.Err != nil {
				return txnErr("describe transaction", d.Err, args[0])
			}
			out := txnDescribeJSON{TransactionalID: d.TxnID, Coordinator: d.Coordinator, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
				State: d.State, TimeoutMs: d.TimeoutMillis, StartTimeMs: d.StartTimestamp, DurationMs: -1, Partitions: []string{}}
			if d.State == "Ongoing" && d.StartTimestamp >= 0 {
				out.DurationMs = time.Now().UnixMilli() - d.StartTimestamp
			} else {
				out.StartTimeMs = -1
			}
			for _, tp := range d.Topics.Sorted() {
				for _, p := range tp.Partitions {
					out.Partitions = append(out.Partitions, fmt.Sprintf("%s-%d", tp.Topic, p))
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			t := newTable("TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "PRODUCER-EPOCH", "STATE", "TIMEOUT-MS", "START-TIME-MS", "DURATION-MS", "PARTITIONS")
			t.add(out.TransactionalID, out.Coordinator, out.ProducerID, out.ProducerEpoch, out.State, out.TimeoutMs, out.StartTimeMs, out.DurationMs,
				orDash(strings.Join(out.Partitions, ",")))
			return t.write(w, "")
		}),
	}
}

func newTxnAbortCmd(g *globals) *cobra.Command {
	var topic string
	var part int32
	var start, pid int64
	var epoch int16
	var coordEpoch int32
	cmd := &cobra.Command{
		Use:   "abort --topic T --partition P (--start-offset O | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition (kafka-transactions.sh abort)",
		Long: `Write an abort marker to one partition for a producer whose transaction there
is open although its coordinator no longer knows it (a hanging transaction,
found with find-hanging). With --start-offset the producer is looked up by the
first offset of its open transaction (DescribeProducers); otherwise give the
producer ID, epoch and coordinator epoch. The partition's last stable offset
then moves on. Aborting a transaction its coordinator still runs loses its
records on this partition: use it for hanging transactions only.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if topic == "" || !cmd.Flags().Changed("partition") {
				return usagef("--topic and --partition are required")
			}
			byOffset := cmd.Flags().Changed("start-offset")
			byProducer := cmd.Flags().Changed("producer-id")
			if byOffset == byProducer {
				return usagef("give either --start-offset, or --producer-id with --producer-epoch and --coordinator-epoch")
			}
			if byProducer && (!cmd.Flags().Changed("producer-epoch") || !cmd.Flags().Changed("coordinator-epoch")) {
				return usagef("--producer-id needs --producer-epoch and --coordinator-epoch")
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			if byOffset {
				p, err := openProducerAt(ctx, adm, topic, part, start)
				if err != nil {
					return err
				}
				pid, epoch, coordEpoch = p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch
			}
			m := kadm.TxnMarkers{ProducerID: pid, ProducerEpoch: epoch, CoordinatorEpoch: coordEpoch, Topics: kadm.TopicsSet{}}
			m.Topics.Add(topic, part)
			resp, err := adm.WriteTxnMarkers(ctx, m)
			if err != nil {
				return txnErr("abort transaction", err, fmt.Sprintf("%s-%d", topic, part))
			}
			for _, r := range resp.Sorted() {
				for _, t := range r.Topics.Sorted() {
					for _, p := range t.Partitions.Sorted() {
						if p.Err != nil {
							return txnErr("abort transaction", p.Err, fmt.Sprintf("%s-%d", t.Topic, p.Partition))
						}
					}
				}
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"topic": topic, "partition": part, "producer_id": pid, "producer_epoch": epoch, "aborted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Aborted producer %d's transaction (epoch %d) on %s-%d.\n", pid, epoch, topic, part)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the partition's topic")
	f.Int32Var(&part, "partition", 0, "the partition")
	f.Int64Var(&start, "start-offset", 0, "the first offset of the open transaction to abort")
	f.Int64Var(&pid, "producer-id", 0, "the producer ID of the transaction")
	f.Int16Var(&epoch, "producer-epoch", 0, "the producer epoch of the transaction")
	f.Int32Var(&coordEpoch, "coordinator-epoch", 0, "the coordinator epoch of the producer's last marker")
	return cmd
}

// openProducerAt finds the producer whose open transaction on topic-part
// starts at offset.
func openProducerAt(ctx context.Context, adm *kadm.Client, topic string, part int32, offset int64) (kadm.DescribedProducer, error) {
	s := kadm.TopicsSet{}
	s.Add(topic, part)
	described, err := adm.DescribeProducers(ctx, s)
	if err != nil {
		return kadm.DescribedProducer{}, txnErr("describe producers", err, fmt.Sprintf("%s-%d", topic, part))
	}
	for _, tp := range described.SortedPartitions() {
		if tp.Err != nil {
			return kadm.DescribedProducer{}, txnErr("describe producers", tp.Err, fmt.Sprintf("%s-%d", topic, part))
		}
		for _, p := range tp.ActiveProducers.Sorted() {
			if p.CurrentTxnStartOffset == offset {
				return p, nil
			}
		}
	}
	return kadm.DescribedProducer{}, &cmdError{op: "abort transaction", err: fmt.Errorf("no transaction open on %s-%d starts at offset %d", topic, part, offset),
		hint: "find open transactions' start offsets with `fjord transaction find-hanging --topic " + topic + "`"}
}

// txnHangingJSON is one transaction in `transaction find-hanging`'s JSON result.
type txnHangingJSON struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	ProducerID       int64  `json:"producer_id"`
	ProducerEpoch    int16  `json:"producer_epoch"`
	CoordinatorEpoch int32  `json:"coordinator_epoch"`
	StartOffset      int64  `json:"start_offset"`
	LastTimestampMs  int64  `json:"last_timestamp_ms"`
	DurationMinutes  int64  `json:"duration_minutes"`
}

func newTxnFindHangingCmd(g *globals) *cobra.Command {
	var topics []string
	var maxTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "find-hanging [--topic T ...]",
		Short: "Find transactions open on partitions that their coordinator no longer runs (kafka-transactions.sh find-hanging)",
		Long: `List the transactions open on partitions (DescribeProducers) for longer than
--max-transaction-timeout whose producer ID no coordinator reports as Ongoing
(ListTransactions): they hold the partition's last stable offset back, and
read_committed consumers with it. Abort one with ` + "`fjord transaction abort --topic T --partition P --start-offset O`" + `.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			s := kadm.TopicsSet{}
			for _, t := range topics {
				s[t] = map[int32]struct{}{}
			}
			described, err := adm.DescribeProducers(ctx, s)
			if err != nil {
				return txnErr("describe producers", err, "")
			}
			now := time.Now()
			var candidates []txnHangingJSON
			var pids []int64
			for _, tp := range described.SortedPartitions() {
				if tp.Err != nil {
					return txnErr("describe producers", tp.Err, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
				}
				for _, p := range tp.ActiveProducers.Sorted() {
					if p.CurrentTxnStartOffset < 0 || now.Sub(time.UnixMilli(p.LastTimestamp)) < maxTimeout {
						continue
					}
					candidates = append(candidates, txnHangingJSON{Topic: p.Topic, Partition: p.Partition, ProducerID: p.ProducerID,
						ProducerEpoch: p.ProducerEpoch, CoordinatorEpoch: p.CoordinatorEpoch, StartOffset: p.CurrentTxnStartOffset,
						LastTimestampMs: p.LastTimestamp, DurationMinutes: int64(now.Sub(time.UnixMilli(p.LastTimestamp)).Minutes())})
					pids = append(pids, p.ProducerID)
				}
			}
			out := []txnHangingJSON{}
			if len(candidates) > 0 {
				listed, err := adm.ListTransactions(ctx, pids, []string{"Ongoing"})
				if err != nil {
					return txnErr("list transactions", err, "")
				}
				for _, c := range candidates {
					ongoing := slices.ContainsFunc(listed.Sorted(), func(l kadm.ListedTransaction) bool { return l.ProducerID == c.ProducerID })
					if !ongoing {
						out = append(out, c)
					}
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			return printHanging(w, out)
		}),
	}
	cmd.Flags().StringSliceVar(&topics, "topic", nil, "only these topics (repeatable; default: every topic)")
	cmd.Flags().DurationVar(&maxTimeout, "max-transaction-timeout", 15*time.Minute,
		"transactions open for less than this are not reported (the brokers' transaction.max.timeout.ms)")
	return cmd
}

func printHanging(w io.Writer, out []txnHangingJSON) error {
	if len(out) == 0 {
		fmt.Fprintln(w, "No hanging transactions.")
		return nil
	}
	t := newTable("TOPIC", "PARTITION", "PRODUCER-ID", "PRODUCER-EPOCH", "COORDINATOR-EPOCH", "START-OFFSET", "LAST-TIMESTAMP-MS", "DURATION-MIN")
	for _, o := range out {
		t.add(o.Topic, o.Partition, o.ProducerID, o.ProducerEpoch, o.CoordinatorEpoch, o.StartOffset, o.LastTimestampMs, o.DurationMinutes)
	}
	return t.write(w, "")
}
