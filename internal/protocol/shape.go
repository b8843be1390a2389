package protocol

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// ProduceEntryBytes bounds what decoding turns one topic or partition
// entry of a Produce request into (kmsg's structs: a name or topic ID, a
// slice and tags). A request of many near-empty entries would decode to
// several times its frame, so ProduceEntries refuses one whose entries
// would take more than ProduceStructSlack beyond its frame size: decoded,
// a Produce request then takes at most twice its frame plus the slack.
const (
	ProduceEntryBytes  = 64
	ProduceStructSlack = 64 << 10
)

// ProduceEntries counts the topic and partition entries of a Produce
// request frame without decoding it (no allocation), and refuses a frame
// whose decoded entries would pass its size by more than
// ProduceStructSlack. Real requests are far from it: their entries carry
// record batches (61 bytes of header at least). The frame must be a Produce request
// (key 0) of a version Fjord serves; errors wrap ErrMalformedRequest.
func ProduceEntries(frame []byte) (int, error) {
	r := kbin.Reader{Src: frame}
	r.Int16() // key
	version := r.Int16()
	r.Int32()                // correlation ID
	r.UnsafeNullableString() // client ID
	flexible := version >= 9
	if flexible {
		if err := skipHeaderTags(&r); err != nil {
			return 0, err
		}
	}
	str := func() {
		if flexible {
			r.UnsafeCompactString()
		} else {
			r.UnsafeString()
		}
	}
	arrayLen := func() int32 {
		if flexible {
			return r.CompactArrayLen()
		}
		return r.ArrayLen()
	}
	if flexible {
		r.UnsafeCompactNullableString() // transactional ID
	} else {
		r.UnsafeNullableString()
	}
	r.Int16() // acks
	r.Int32() // timeout
	entries := 0
	topics := arrayLen()
	for t := int32(0); t < topics && r.Ok(); t++ {
		entries++
		if version >= 13 {
			r.Uuid()
		} else {
			str()
		}
		parts := arrayLen()
		for p := int32(0); p < parts && r.Ok(); p++ {
			entries++
			r.Int32()
			if flexible {
				r.CompactNullableBytes()
			} else {
				r.NullableBytes()
			}
			if flexible {
				if err := skipHeaderTags(&r); err != nil {
					return entries, err
				}
			}
		}
		if flexible && r.Ok() {
			if err := skipHeaderTags(&r); err != nil {
				return entries, err
			}
		}
	}
	if !r.Ok() {
		return entries, fmt.Errorf("%w: truncated Produce v%d request", ErrMalformedRequest, version)
	}
	if int64(entries)*ProduceEntryBytes > int64(len(frame))+ProduceStructSlack {
		return entries, fmt.Errorf("%w: Produce v%d request of %d bytes with %d topic and partition entries", ErrMalformedRequest, version, len(frame), entries)
	}
	return entries, nil
}
