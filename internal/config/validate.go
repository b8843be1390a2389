package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Validator checks a parsed value: bool, int64 (int, short and long keys),
// float64, string (string, class, password) or []string (list). Validate
// returns the reason a value is rejected; String describes the accepted
// values for the docs, in Kafka's notation ("[14,...]").
type Validator interface {
	Validate(v any) error
	String() string
}

// atLeast accepts integers >= min (Kafka's Range.atLeast).
type atLeast struct{ min int64 }

func (a atLeast) Validate(v any) error {
	n, ok := v.(int64)
	if !ok {
		return errors.New("not a number")
	}
	if n < a.min {
		return fmt.Errorf("must be at least %d", a.min)
	}
	return nil
}

func (a atLeast) String() string { return fmt.Sprintf("[%d,...]", a.min) }

// between accepts integers in [lo, hi] (Kafka's Range.between).
type between struct{ lo, hi int64 }

func (b between) Validate(v any) error {
	n, ok := v.(int64)
	if !ok {
		return errors.New("not a number")
	}
	if n < b.lo || n > b.hi {
		return fmt.Errorf("must be between %d and %d", b.lo, b.hi)
	}
	return nil
}

func (b between) String() string { return fmt.Sprintf("[%d,...,%d]", b.lo, b.hi) }

// betweenFloat accepts doubles in [lo, hi].
type betweenFloat struct{ lo, hi float64 }

func (b betweenFloat) Validate(v any) error {
	f, ok := v.(float64)
	if !ok {
		return errors.New("not a number")
	}
	if f < b.lo || f > b.hi {
		return fmt.Errorf("must be between %s and %s", fmtFloat(b.lo), fmtFloat(b.hi))
	}
	return nil
}

func (b betweenFloat) String() string {
	return fmt.Sprintf("[%s,...,%s]", fmtFloat(b.lo), fmtFloat(b.hi))
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// oneOf accepts one of a fixed set of strings, case-sensitively as Kafka's
// ValidString.in does.
type oneOf struct{ values []string }

func (o oneOf) Validate(v any) error {
	s, ok := v.(string)
	if !ok {
		return errors.New("not a string")
	}
	if !slices.Contains(o.values, s) {
		return fmt.Errorf("must be one of %s", strings.Join(o.values, ", "))
	}
	return nil
}

func (o oneOf) String() string { return "[" + strings.Join(o.values, ", ") + "]" }

// listOf accepts lists whose items all come from a fixed set (Kafka's
// ValidList.in). An empty list is accepted.
type listOf struct {
	values   []string
	nonEmpty bool // reject an empty list
	unique   bool // reject repeated items
}

func (l listOf) Validate(v any) error {
	items, ok := v.([]string)
	if !ok {
		return errors.New("not a list")
	}
	if l.nonEmpty && len(items) == 0 {
		return errors.New("must not be empty")
	}
	for i, it := range items {
		if !slices.Contains(l.values, it) {
			return fmt.Errorf("item %q must be one of %s", it, strings.Join(l.values, ", "))
		}
		if l.unique && slices.Contains(items[:i], it) {
			return fmt.Errorf("item %q is repeated", it)
		}
	}
	return nil
}

func (l listOf) String() string { return "[" + strings.Join(l.values, ", ") + "]" }

// nonEmptyList accepts lists with at least one item, no empty items and no
// repeats (Kafka's ValidList.anyNonDuplicateValues).
type nonEmptyList struct{ allowEmpty bool }

func (n nonEmptyList) Validate(v any) error {
	items, ok := v.([]string)
	if !ok {
		return errors.New("not a list")
	}
	if len(items) == 0 && !n.allowEmpty {
		return errors.New("must not be empty")
	}
	for i, it := range items {
		if it == "" {
			return errors.New("must not contain empty items")
		}
		if slices.Contains(items[:i], it) {
			return fmt.Errorf("item %q is repeated", it)
		}
	}
	return nil
}

func (n nonEmptyList) String() string {
	if n.allowEmpty {
		return "list without duplicates"
	}
	return "non-empty list without duplicates"
}

// check wraps a function that validates a parsed value, with a description
// for the docs. It is used for structured values (listeners, voters,
// protocol maps) whose parsers live next to the types they produce.
type check struct {
	desc string
	fn   func(v any) error
}

func (c check) Validate(v any) error { return c.fn(v) }
func (c check) String() string       { return c.desc }

// stringCheck adapts a func(string) error to a check on string values.
func stringCheck(desc string, fn func(string) error) check {
	return check{desc: desc, fn: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("not a string")
		}
		return fn(s)
	}}
}

// listCheck adapts a func([]string) error to a check on list values.
func listCheck(desc string, fn func([]string) error) check {
	return check{desc: desc, fn: func(v any) error {
		items, ok := v.([]string)
		if !ok {
			return errors.New("not a list")
		}
		return fn(items)
	}}
}

// validateCordoned checks cordoned.log.dirs: no empty or repeated items, and
// "*" (every log directory) only on its own.
func validateCordoned(v any) error {
	if err := (nonEmptyList{allowEmpty: true}).Validate(v); err != nil {
		return err
	}
	items, _ := v.([]string)
	if slices.Contains(items, CordonAll) && len(items) > 1 {
		return fmt.Errorf("%s stands for every log directory and must be the only item", CordonAll)
	}
	return nil
}
