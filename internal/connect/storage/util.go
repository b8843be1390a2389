package storage

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// sortOffsets orders offsets by their partition's JSON, so listings are
// stable.
func sortOffsets(o []connect.ConnectorOffset) {
	key := func(c connect.ConnectorOffset) string { b, _ := json.Marshal(c.Partition); return string(b) }
	slices.SortFunc(o, func(a, b connect.ConnectorOffset) int { return strings.Compare(key(a), key(b)) })
}
