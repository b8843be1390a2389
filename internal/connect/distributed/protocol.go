// Package distributed holds what Fjord Connect's distributed workers agree
// on through the group protocol: the encoding of a worker's join metadata
// and of the leader's assignment (Kafka Connect's ConnectProtocol and
// IncrementalCooperativeConnectProtocol, byte for byte, so the group's
// contents read as Kafka's), and the incremental cooperative assignor
// (KIP-415), a pure function of the members, the configured connectors
// and tasks, the leader's memory and the time.
//
// Invariants: a connector or task is assigned to at most one worker once
// every revocation is applied (the assignor revokes before it reassigns);
// a departed worker's connectors and tasks wait scheduled.rebalance.max.delay.ms
// for it to return before they move.
package distributed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/fjordstream/fjord/internal/connect"
)

// ProtocolType is the group protocol type of Connect workers.
const ProtocolType = "connect"

// Protocol names and versions: "default" is the eager protocol (v0),
// "compatible" the incremental cooperative one (v1), "sessioned" v1 with
// request signing (v2), as connect.protocol names them.
const (
	ProtocolEager      = "default"
	ProtocolCompatible = "compatible"
	ProtocolSessioned  = "sessioned"
)

// ConnectorTask is the task number standing for the connector itself in
// an assignment (Kafka's CONNECTOR_TASK sentinel).
const ConnectorTask int32 = -1

// Assignment is what a worker runs: connectors (the Connector instances)
// and tasks.
type Assignment struct {
	Connectors []string
	Tasks      []connect.TaskID
}

// Empty reports whether the assignment holds nothing.
func (a Assignment) Empty() bool { return len(a.Connectors) == 0 && len(a.Tasks) == 0 }

// WorkerState is a worker's join metadata: its REST URL, the config topic
// offset it has read to, and (v1+) what it runs now.
type WorkerState struct {
	Version      int16
	URL          string
	ConfigOffset int64
	Current      Assignment
}

// LeaderAssignment is the leader's answer to one worker: error (0 or
// Kafka Connect's CONFIG_MISMATCH, 1), the leader's ID and URL, the config
// offset the assignment was computed at, what it newly gets, what it must
// stop (v1+), and how long until the leader looks again at departed
// workers (v1+).
type LeaderAssignment struct {
	Version      int16
	Error        int16
	Leader       string
	LeaderURL    string
	ConfigOffset int64
	Assigned     Assignment
	Revoked      Assignment
	Delay        int32 // milliseconds
}

// Error codes of an assignment.
const (
	AssignmentNoError        int16 = 0
	AssignmentConfigMismatch int16 = 1
)

// ErrBadProtocol reports join metadata or an assignment that does not
// decode.
var ErrBadProtocol = errors.New("connect group protocol: malformed data")

// EncodeMetadata writes a worker's join metadata in s.Version's format.
func EncodeMetadata(s WorkerState) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(s.Version))
	b = appendString(b, s.URL)
	b = binary.BigEndian.AppendUint64(b, uint64(s.ConfigOffset))
	if s.Version >= 1 {
		if s.Current.Empty() {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff) // null: nothing assigned
		} else {
			a := EncodeAssignment(LeaderAssignment{Version: s.Version, Leader: "", LeaderURL: "", ConfigOffset: s.ConfigOffset, Assigned: s.Current})
			b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
			b = append(b, a...)
		}
	}
	return b
}

// DecodeMetadata reads a worker's join metadata (any version; fields a
// later version adds are ignored, as Kafka tolerates them).
func DecodeMetadata(b []byte) (WorkerState, error) {
	r := reader{b: b}
	s := WorkerState{Version: r.int16()}
	s.URL = r.string()
	s.ConfigOffset = r.int64()
	if s.Version >= 1 && r.err == nil && len(r.b) > 0 {
		if alloc := r.nullableBytes(); alloc != nil && r.err == nil {
			a, err := DecodeAssignment(alloc)
			if err != nil {
				return s, err
			}
			s.Current = a.Assigned
		}
	}
	if r.err != nil || s.Version < 0 {
		return s, fmt.Errorf("%w: worker metadata", ErrBadProtocol)
	}
	return s, nil
}

// EncodeAssignment writes an assignment in a.Version's format.
func EncodeAssignment(a LeaderAssignment) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(a.Version))
	b = binary.BigEndian.AppendUint16(b, uint16(a.Error))
	b = appendString(b, a.Leader)
	b = appendString(b, a.LeaderURL)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ConfigOffset))
	b = appendConnectorAssignments(b, a.Assigned, a.Version >= 1)
	if a.Version >= 1 {
		b = appendConnectorAssignments(b, a.Revoked, true)
		b = binary.BigEndian.AppendUint32(b, uint32(a.Delay))
	}
	return b
}

// DecodeAssignment reads an assignment.
func DecodeAssignment(b []byte) (LeaderAssignment, error) {
	r := reader{b: b}
	a := LeaderAssignment{Version: r.int16(), Error: r.int16()}
	a.Leader = r.string()
	a.LeaderURL = r.string()
	a.ConfigOffset = r.int64()
	a.Assigned = r.connectorAssignments()
	if a.Version >= 1 && len(r.b) > 0 {
		a.Revoked = r.connectorAssignments()
		if len(r.b) >= 4 {
			a.Delay = r.int32()
		}
	}
	if r.err != nil || a.Version < 0 {
		return a, fmt.Errorf("%w: assignment", ErrBadProtocol)
	}
	return a, nil
}

// appendConnectorAssignments writes an assignment grouped by connector:
// [connector, [task...]], the connector itself as task ConnectorTask.
func appendConnectorAssignments(b []byte, a Assignment, nullable bool) []byte {
	byConn := map[string][]int32{}
	var names []string
	add := func(name string, task int32) {
		if _, ok := byConn[name]; !ok {
			names = append(names, name)
		}
		byConn[name] = append(byConn[name], task)
	}
	for _, c := range a.Connectors {
		add(c, ConnectorTask)
	}
	for _, t := range a.Tasks {
		add(t.Connector, int32(t.Task))
	}
	if nullable && len(names) == 0 {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	slices.Sort(names)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, n := range names {
		b = appendString(b, n)
		tasks := byConn[n]
		b = binary.BigEndian.AppendUint32(b, uint32(len(tasks)))
		for _, t := range tasks {
			b = binary.BigEndian.AppendUint32(b, uint32(t))
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// reader decodes the protocol's fields; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = ErrBadProtocol
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *reader) int64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *reader) string() string {
	n := r.int16()
	if n < 0 {
		r.err = ErrBadProtocol
		return ""
	}
	return string(r.take(int(n)))
}

func (r *reader) nullableBytes() []byte {
	n := r.int32()
	if n == -1 || r.err != nil {
		return nil
	}
	return r.take(int(n))
}

func (r *reader) connectorAssignments() Assignment {
	var a Assignment
	n := r.int32()
	if n == -1 {
		return a
	}
	if n < 0 || int(n) > len(r.b) {
		r.err = ErrBadProtocol
		return a
	}
	for range n {
		name := r.string()
		k := r.int32()
		if k < 0 || int(k)*4 > len(r.b) {
			r.err = ErrBadProtocol
			return a
		}
		for range k {
			t := r.int32()
			if t == ConnectorTask {
				a.Connectors = append(a.Connectors, name)
			} else {
				a.Tasks = append(a.Tasks, connect.TaskID{Connector: name, Task: int(t)})
			}
		}
		if r.err != nil {
			return a
		}
	}
	return a
}
