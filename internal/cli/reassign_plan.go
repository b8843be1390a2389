package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// anyLogDir is the only log_dirs entry a plan may hold: Fjord does not move
// replicas between a broker's log directories (AlterReplicaLogDirs).
const anyLogDir = "any"

// reassignPlan is kafka-reassign-partitions.sh's reassignment JSON:
// {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}.
type reassignPlan struct {
	Version    int                 `json:"version"`
	Partitions []reassignPartition `json:"partitions"`
}

// reassignPartition is one partition of a plan, its target replicas first
// to last (the first is the preferred leader).
type reassignPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs"`
}

// tp names a partition as Kafka's TopicPartition.toString does: t-0.
func tp(topic string, partition int32) string { return topic + "-" + strconv.Itoa(int(partition)) }

func (p reassignPartition) name() string { return tp(p.Topic, p.Partition) }

// planError is a plan file Fjord cannot use: what is wrong with it, in
// Kafka's words where kafka-reassign-partitions.sh has them.
func planError(file, format string, a ...any) error {
	return opErr(fmt.Sprintf("reassignment JSON file %s", file), fmt.Errorf(format, a...), "")
}

// readInput reads a file, or standard input for "-".
func readInput(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, opErr("read "+file, err, "")
	}
	return b, nil
}

// decodeJSON decodes one JSON value from b into v, refusing trailing data.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// rawPartition detects missing fields, which Kafka's parser refuses.
type rawPartition struct {
	Topic     *string   `json:"topic"`
	Partition *int32    `json:"partition"`
	Replicas  *[]int32  `json:"replicas"`
	LogDirs   *[]string `json:"log_dirs"`
}

// parseReassignPlan parses and checks a reassignment JSON file as
// kafka-reassign-partitions.sh does for --execute (version 1 only; a
// partition, and a broker within a partition, at most once; no empty
// replica list; log_dirs, if given, as long as replicas), and refuses
// log_dirs other than "any".
func parseReassignPlan(file string, b []byte) (*reassignPlan, error) {
	var raw struct {
		Version    *int            `json:"version"`
		Partitions *[]rawPartition `json:"partitions"`
	}
	if err := decodeJSON(b, &raw); err != nil {
		return nil, planError(file, "not valid reassignment JSON (%v); want {\"version\":1,\"partitions\":[{\"topic\":\"t\",\"partition\":0,\"replicas\":[1,2]}]}", err)
	}
	plan := &reassignPlan{Version: 1}
	if raw.Version != nil && *raw.Version != 1 {
		return nil, planError(file, "Not supported version field value %d", *raw.Version)
	}
	if raw.Partitions == nil || len(*raw.Partitions) == 0 {
		return nil, planError(file, "Partition reassignment list cannot be empty")
	}
	seen := map[string]bool{}
	var dupParts, dupReplicas []string
	for i, rp := range *raw.Partitions {
		switch {
		case rp.Topic == nil || *rp.Topic == "":
			return nil, planError(file, "partitions[%d]: no \"topic\"", i)
		case rp.Partition == nil:
			return nil, planError(file, "partitions[%d] (topic %s): no \"partition\"", i, *rp.Topic)
		case *rp.Partition < 0:
			return nil, planError(file, "partitions[%d]: partition %d of %s is negative", i, *rp.Partition, *rp.Topic)
		case rp.Replicas == nil:
			return nil, planError(file, "%s: no \"replicas\"", tp(*rp.Topic, *rp.Partition))
		case len(*rp.Replicas) == 0:
			return nil, planError(file, "Partition replica list cannot be empty (%s)", tp(*rp.Topic, *rp.Partition))
		}
		p := reassignPartition{Topic: *rp.Topic, Partition: *rp.Partition, Replicas: *rp.Replicas}
		if rp.LogDirs != nil {
			if len(*rp.LogDirs) != len(p.Replicas) {
				return nil, planError(file, "Size of replicas list %s is different from size of log dirs list %s for partition %s",
					javaList(p.Replicas), javaList(*rp.LogDirs), p.name())
			}
			for _, d := range *rp.LogDirs {
				if d != anyLogDir {
					return nil, planError(file, "%s: log dir %q: only \"any\" is supported (moving a replica between a broker's log directories is not)", p.name(), d)
				}
			}
		}
		for _, id := range p.Replicas {
			if id < 0 {
				return nil, planError(file, "%s: broker ID %d is negative", p.name(), id)
			}
		}
		if seen[p.name()] && !slices.Contains(dupParts, p.name()) {
			dupParts = append(dupParts, p.name())
		}
		seen[p.name()] = true
		if d := duplicates(p.Replicas); len(d) > 0 {
			dupReplicas = append(dupReplicas, fmt.Sprintf("%s contains multiple entries for %s", p.name(), int32List(d)))
		}
		p.LogDirs = anyLogDirs(len(p.Replicas))
		plan.Partitions = append(plan.Partitions, p)
	}
	if len(dupParts) > 0 {
		return nil, planError(file, "Partition reassignment contains duplicate topic partitions: %s", strings.Join(dupParts, ","))
	}
	if len(dupReplicas) > 0 {
		return nil, planError(file, "Partition replica lists may not contain duplicate entries: %s", strings.Join(dupReplicas, ". "))
	}
	return plan, nil
}

// parseTopicsToMove parses --topics-to-move-json-file:
// {"topics":[{"topic":"t"}],"version":1}.
func parseTopicsToMove(file string, b []byte) ([]string, error) {
	var raw struct {
		Version *int `json:"version"`
		Topics  *[]struct {
			Topic *string `json:"topic"`
		} `json:"topics"`
	}
	if err := decodeJSON(b, &raw); err != nil {
		return nil, opErr("topics-to-move JSON file "+file, fmt.Errorf("not valid JSON (%v); want {\"topics\":[{\"topic\":\"t\"}],\"version\":1}", err), "")
	}
	if raw.Version != nil && *raw.Version != 1 {
		return nil, opErr("topics-to-move JSON file "+file, fmt.Errorf("Not supported version field value %d", *raw.Version), "")
	}
	if raw.Topics == nil || len(*raw.Topics) == 0 {
		return nil, opErr("topics-to-move JSON file "+file, errors.New("no topics to move"), "")
	}
	var topics, dup []string
	for i, t := range *raw.Topics {
		if t.Topic == nil || *t.Topic == "" {
			return nil, opErr("topics-to-move JSON file "+file, fmt.Errorf("topics[%d]: no \"topic\"", i), "")
		}
		if slices.Contains(topics, *t.Topic) && !slices.Contains(dup, *t.Topic) {
			dup = append(dup, *t.Topic)
		}
		topics = append(topics, *t.Topic)
	}
	if len(dup) > 0 {
		return nil, opErr("topics-to-move JSON file "+file, fmt.Errorf("List of topics to reassign contains duplicate entries: %s", strings.Join(dup, ",")), "")
	}
	return topics, nil
}

// duplicates returns the IDs that appear more than once, in order.
func duplicates(ids []int32) []int32 {
	var out []int32
	for i, id := range ids {
		if slices.Contains(ids[:i], id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// javaList prints a list as Java's List.toString does: [1, 2].
func javaList[T any](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func anyLogDirs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = anyLogDir
	}
	return out
}

// sortPartitions orders partitions by topic, then partition, as Kafka's
// tool prints them.
func sortPartitions(ps []reassignPartition) {
	slices.SortFunc(ps, func(a, b reassignPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}

// formatPlan renders partitions as Kafka's formatAsReassignmentJson does:
// compact, version 1, sorted, every log dir "any".
func formatPlan(ps []reassignPartition) string {
	ps = slices.Clone(ps)
	for i := range ps {
		ps[i].LogDirs = anyLogDirs(len(ps[i].Replicas))
		if ps[i].Replicas == nil {
			ps[i].Replicas = []int32{}
		}
	}
	sortPartitions(ps)
	if ps == nil {
		ps = []reassignPartition{}
	}
	b, _ := json.Marshal(reassignPlan{Version: 1, Partitions: ps}) // ints and strings cannot fail
	return string(b)
}

// assignReplicas spreads partitions of rf replicas over brokers as Kafka's
// AdminUtils.assignReplicasToBrokers does without racks: partition p's
// first replica is broker (p+start) mod n of the sorted list, the others
// follow at a shift that grows by one every n partitions, so leaders and
// followers both spread evenly. Kafka picks start and the first shift at
// random; here both are the caller's (offset), so a plan is reproducible.
func assignReplicas(brokers []int32, partitions, rf, offset int) (map[int32][]int32, error) {
	n := len(brokers)
	if rf <= 0 {
		return nil, fmt.Errorf("Replication factor must be larger than 0, not %d", rf)
	}
	if rf > n {
		return nil, fmt.Errorf("Replication factor: %d larger than available brokers: %d.", rf, n)
	}
	sorted := slices.Sorted(slices.Values(brokers))
	start := offset % n
	shift := offset % n
	out := make(map[int32][]int32, partitions)
	for p := range partitions {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{sorted[first]}
		for j := range rf - 1 {
			var step int
			if n > 1 {
				step = 1 + (shift+j)%(n-1)
			}
			replicas = append(replicas, sorted[(first+step)%n])
		}
		out[int32(p)] = replicas
	}
	return out, nil
}

// notAllRacksMsg is kafka-reassign-partitions.sh's refusal when only some
// of the --broker-list brokers have a rack.
const notAllRacksMsg = "Not all brokers have rack information. Add --disable-rack-aware in command line to make replica assignment without rack information."

// proposeAssignment is --generate's assignment of one topic, as Kafka's
// AdminUtils.assignReplicasToBrokers: rack-aware when every broker has a
// rack (racks[id] != ""), as topic creation is; without racks (or with
// rackAware off, --disable-rack-aware) the rack-unaware assignReplicas; an
// error when only some brokers have one.
func proposeAssignment(brokers []int32, racks map[int32]string, rackAware bool, partitions, rf, offset int) (map[int32][]int32, error) {
	if rackAware {
		var err error
		if rackAware, err = useRacks(brokers, racks); err != nil {
			return nil, err
		}
	}
	if !rackAware {
		return assignReplicas(brokers, partitions, rf, offset)
	}
	return assignReplicasRackAware(brokers, racks, partitions, rf, offset)
}

// useRacks reports whether every broker has a rack (then the assignment
// is rack-aware); none having one is no error, only some is.
func useRacks(brokers []int32, racks map[int32]string) (bool, error) {
	withRack := 0
	for _, id := range brokers {
		if racks[id] != "" {
			withRack++
		}
	}
	if withRack > 0 && withRack < len(brokers) {
		return false, errors.New(notAllRacksMsg)
	}
	return withRack > 0, nil
}

// assignReplicasRackAware is Kafka's AdminUtils.assignReplicasToBrokersRackAware.
// The brokers are ordered alternating racks (rackAlternated: a1 b1 c1 a2
// b2 ...); partition p's first replica is the broker at (p+start) mod n of
// that order, so leaders spread over brokers and racks. Each further
// replica is searched from a shift that grows by one every n partitions
// (scaled by the number of racks, so followers do not always sit next to
// their leader's rack), skipping a broker whose rack already holds a
// replica while some rack holds none, and a broker that holds one while
// some broker holds none. So with at least rf racks a partition's replicas
// are on rf distinct racks, and otherwise on every rack. Kafka picks start
// and the first shift at random; here both are offset, as in assignReplicas.
func assignReplicasRackAware(brokers []int32, racks map[int32]string, partitions, rf, offset int) (map[int32][]int32, error) {
	n := len(brokers)
	if rf <= 0 {
		return nil, fmt.Errorf("Replication factor must be larger than 0, not %d", rf)
	}
	if rf > n {
		return nil, fmt.Errorf("Replication factor: %d larger than available brokers: %d.", rf, n)
	}
	order := rackAlternated(brokers, racks)
	numRacks := len(distinctRacks(brokers, racks))
	start := offset % n
	shift := offset % n
	out := make(map[int32][]int32, partitions)
	for p := range partitions {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		leader := order[first]
		replicas := []int32{leader}
		usedRacks := map[string]bool{racks[leader]: true}
		for k := 0; len(replicas) < rf; k++ {
			// rf <= n, so n > 1 here: the modulus is never zero.
			cand := order[(first+1+(shift*numRacks+k)%(n-1))%n]
			rack := racks[cand]
			if (usedRacks[rack] && len(usedRacks) < numRacks) || (slices.Contains(replicas, cand) && len(replicas) < n) {
				continue
			}
			replicas = append(replicas, cand)
			usedRacks[rack] = true
		}
		out[int32(p)] = replicas
	}
	return out, nil
}

// rackAlternated orders brokers as Kafka's getRackAlternatedBrokerList:
// racks sorted, each rack's brokers sorted, then the first broker of each
// rack, the second of each, and so on.
func rackAlternated(brokers []int32, racks map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for _, id := range slices.Sorted(slices.Values(brokers)) {
		byRack[racks[id]] = append(byRack[racks[id]], id)
	}
	names := distinctRacks(brokers, racks)
	out := make([]int32, 0, len(brokers))
	for k := 0; len(out) < len(brokers); k++ {
		for _, r := range names {
			if k < len(byRack[r]) {
				out = append(out, byRack[r][k])
			}
		}
	}
	return out
}

// distinctRacks returns the racks of brokers, sorted, each once.
func distinctRacks(brokers []int32, racks map[int32]string) []string {
	var out []string
	for _, id := range brokers {
		if !slices.Contains(out, racks[id]) {
			out = append(out, racks[id])
		}
	}
	slices.Sort(out)
	return out
}
