package convert

import (
	"bytes"
	"fmt"
	"math/big"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// schemaEq compares schemas, defaults by value (connect.SchemasEqual
// prints them, which shows struct pointers).
func schemaEq(a, b *connect.Schema) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Type != b.Type || a.Optional != b.Optional || a.Name != b.Name || a.Version != b.Version || a.Doc != b.Doc ||
		len(a.Parameters) != len(b.Parameters) || len(a.Fields) != len(b.Fields) || !valueEq(a.Default, b.Default) {
		return false
	}
	for k, v := range a.Parameters {
		if b.Parameters[k] != v {
			return false
		}
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !schemaEq(a.Fields[i].Schema, b.Fields[i].Schema) {
			return false
		}
	}
	return schemaEq(a.KeySchema, b.KeySchema) && schemaEq(a.ValueSchema, b.ValueSchema)
}

// valueEq compares connect values deeply: decimals by value, times by
// instant, structs field by field, maps by matching keys by value.
func valueEq(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEq(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !valueEq(v, w) {
				return false
			}
		}
		return true
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
	outer:
		for k, v := range x {
			for k2, w := range y {
				if valueEq(k, k2) && valueEq(v, w) {
					continue outer
				}
			}
			return false
		}
		return true
	case *connect.Struct:
		y, ok := b.(*connect.Struct)
		if !ok || !schemaEq(x.Schema, y.Schema) || len(x.Values) != len(y.Values) {
			return false
		}
		for i := range x.Values {
			if !valueEq(x.Values[i], y.Values[i]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}
