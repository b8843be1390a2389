package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestImplemented_WithinKmsg keeps the table honest: every advertised version
// must be one kmsg can decode and encode, and keys must be unique and sorted.
func TestImplemented_WithinKmsg(t *testing.T) {
	prev := int16(-1)
	for _, r := range Implemented() {
		req := kmsg.RequestForKey(r.Key)
		if req == nil {
			t.Fatalf("key %d unknown to kmsg", r.Key)
		}
		if r.Max > req.MaxVersion() || r.Min < 0 || r.Min > r.Max {
			t.Errorf("%s: range %d-%d, kmsg max %d", kmsg.NameForKey(r.Key), r.Min, r.Max, req.MaxVersion())
		}
		if r.Key <= prev {
			t.Errorf("key %d out of order", r.Key)
		}
		prev = r.Key
	}
}
