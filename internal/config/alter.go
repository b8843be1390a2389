package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// OpType is an IncrementalAlterConfigs operation; the values are Kafka's
// wire codes.
type OpType int8

// Kafka's IncrementalAlterConfigs operation codes.
const (
	OpSet      OpType = 0 // set the value
	OpDelete   OpType = 1 // remove the override, reverting to the default
	OpAppend   OpType = 2 // add items to a list value
	OpSubtract OpType = 3 // remove items from a list value
)

// String returns Kafka's name for the operation.
func (o OpType) String() string {
	switch o {
	case OpSet:
		return "SET"
	case OpDelete:
		return "DELETE"
	case OpAppend:
		return "APPEND"
	case OpSubtract:
		return "SUBTRACT"
	}
	return fmt.Sprintf("OpType(%d)", int8(o))
}

// AlterOp is one change in an IncrementalAlterConfigs request for a topic.
type AlterOp struct {
	Key   string
	Op    OpType
	Value string // ignored by DELETE; comma-separated items for APPEND/SUBTRACT
}

// IncrementalAlter applies ops to a topic's overrides and returns the new
// overrides, leaving the input untouched. As in Kafka: a key may appear only
// once per request and an unknown operation is rejected (both wrap
// ErrInvalidRequest); APPEND and SUBTRACT work on list keys only, starting
// from the current override or the key's default; APPEND skips items
// already present. The result is validated as a whole with
// ValidateTopicConfigs (errors wrap ErrInvalidConfig).
func IncrementalAlter(overrides map[string]string, ops []AlterOp) (map[string]string, error) {
	return incrementalAlter(overrides, ops, Key.IsTopic, "not a topic config", ValidateTopicConfigs)
}

// IncrementalAlterBroker is IncrementalAlter for a BROKER resource's
// dynamic overrides (a broker ID, or "" for the cluster-wide default):
// only the keys Fjord changes at run time are accepted (BrokerDynamic);
// any other broker key is refused as Kafka refuses a read-only one.
func IncrementalAlterBroker(overrides map[string]string, ops []AlterOp) (map[string]string, error) {
	return incrementalAlter(overrides, ops, Key.IsBroker, "not a broker config", ValidateBrokerDynamicConfigs)
}

// ValidateBrokerDynamicConfigs checks a BROKER resource's dynamic
// overrides: every key BrokerDynamic, every value valid.
func ValidateBrokerDynamicConfigs(overrides map[string]string) error {
	t := Registry()
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		k, ok := t.Lookup(name)
		if !ok {
			return &Error{Key: name, Unknown: true, Reason: "not a broker config"}
		}
		if !k.BrokerDynamic() {
			return &Error{Key: name, Value: overrides[name], Reason: "cannot be updated dynamically; set it in server.properties"}
		}
		if _, err := k.Parse(overrides[name]); err != nil {
			return err
		}
	}
	return nil
}

func incrementalAlter(overrides map[string]string, ops []AlterOp, accept func(Key) bool, refusal string, validate func(map[string]string) error) (map[string]string, error) {
	t := Registry()
	out := cloneOrEmpty(overrides)
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("config %s appears more than once: %w", op.Key, ErrInvalidRequest)
		}
		seen[op.Key] = true
		k, ok := t.Lookup(op.Key)
		if !ok || !accept(k) {
			return nil, &Error{Key: op.Key, Unknown: true, Reason: refusal}
		}
		switch op.Op {
		case OpSet:
			out[k.Name] = op.Value
		case OpDelete:
			delete(out, k.Name)
		case OpAppend, OpSubtract:
			if k.Type != TypeList {
				return nil, &Error{Key: k.Name, Value: op.Value, Reason: op.Op.String() + " applies only to list configs"}
			}
			cur, ok := out[k.Name]
			if !ok {
				cur = k.Default
			}
			out[k.Name] = strings.Join(applyListOp(splitList(cur), splitList(op.Value), op.Op), ",")
		default:
			return nil, fmt.Errorf("config %s: unknown operation %d: %w", op.Key, op.Op, ErrInvalidRequest)
		}
	}
	if err := validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

// applyListOp appends the items not yet present, or removes every listed item.
func applyListOp(cur, items []string, op OpType) []string {
	if op == OpAppend {
		for _, it := range items {
			if !slices.Contains(cur, it) {
				cur = append(cur, it)
			}
		}
		return cur
	}
	return slices.DeleteFunc(cur, func(s string) bool { return slices.Contains(items, s) })
}
