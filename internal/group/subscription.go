package group

import "encoding/binary"

// subscriptionTopics reads the topics of a consumer protocol subscription
// (protocol type "consumer"): int16 version, then int32 count and that many
// int16-length strings. Every version starts with this v0 layout, so later
// versions parse too (as Kafka parses them). False if the bytes are not a
// subscription.
func subscriptionTopics(b []byte) ([]string, bool) {
	if len(b) < 6 {
		return nil, false
	}
	if int16(binary.BigEndian.Uint16(b)) < 0 {
		return nil, false
	}
	n := int32(binary.BigEndian.Uint32(b[2:]))
	b = b[6:]
	if n < 0 || int(n) > len(b)/2 {
		return nil, false
	}
	topics := make([]string, 0, n)
	for range n {
		if len(b) < 2 {
			return nil, false
		}
		l := int16(binary.BigEndian.Uint16(b))
		b = b[2:]
		if l < 0 || int(l) > len(b) {
			return nil, false
		}
		topics = append(topics, string(b[:l]))
		b = b[l:]
	}
	return topics, true
}
