package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrResponseTooLarge: a response would not fit the int32 size of a frame
// (or a record set the int32 length of its field).
var ErrResponseTooLarge = errors.New("response larger than a frame can carry")

// FetchCut marks where a record set that the caller sends itself (from a
// file, say) goes in a Fetch response frame built by AppendFetchResponse.
type FetchCut struct {
	// At is the index in the frame bytes where the record set's bytes go:
	// right after its length prefix, which is already encoded.
	At int
	// Topic and Partition index resp.Topics and that topic's Partitions.
	Topic, Partition int
	// Len is the record set's length in bytes.
	Len int64
}

// AppendFetchResponse appends the frame of a Fetch response as
// AppendResponse does, except for the record set of every partition for
// which external(topic, partition) returns n >= 0: its length prefix says
// n bytes (an empty set for 0, never null) and cuts gets a FetchCut with
// the position where the caller must insert those n bytes, in frame order.
// Partitions for which it returns a negative number (or every partition,
// with a nil external) have their RecordBatches encoded inline.
//
// Writing the returned bytes with each cut's record set inserted at At
// gives exactly what AppendResponse gives for resp with RecordBatches
// holding those bytes (the frame size counts them); the tests check this
// against kmsg for every version. The layout follows Kafka's Fetch schema
// v0-v18 (kmsg's encoder is the reference): v12+ flexible, with tagged
// fields; v13+ topic IDs instead of names. On error dst and cuts come back
// as they were.
func AppendFetchResponse(dst []byte, cuts []FetchCut, correlationID int32, resp *kmsg.FetchResponse, external func(topic, partition int) int64) ([]byte, []FetchCut, error) {
	start, cutsStart := len(dst), len(cuts)
	e := fetchEncoder{version: resp.Version, flexible: resp.Version >= 12, external: external, cuts: cuts}
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if e.flexible {
		dst = append(dst, 0) // empty header tagged fields
	}
	dst = e.appendBody(dst, resp)
	if e.err != nil {
		return dst[:start], e.cuts[:cutsStart], e.err
	}
	size := int64(len(dst) - start - 4)
	for _, c := range e.cuts[cutsStart:] {
		size += c.Len
	}
	if size > math.MaxInt32 {
		return dst[:start], e.cuts[:cutsStart], fmt.Errorf("%w: fetch response of %d bytes", ErrResponseTooLarge, size)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, e.cuts, nil
}

// fetchEncoder holds the state of one AppendFetchResponse call.
type fetchEncoder struct {
	version  int16
	flexible bool
	external func(topic, partition int) int64
	cuts     []FetchCut
	err      error
}

func (e *fetchEncoder) arrayLen(dst []byte, n int) []byte {
	if e.flexible {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

// tags appends a tagged-field count and the unknown tags of a struct
// without known tags (flexible versions only).
func (e *fetchEncoder) tags(dst []byte, t *kmsg.Tags) []byte {
	if !e.flexible {
		return dst
	}
	dst = kbin.AppendUvarint(dst, uint32(t.Len()))
	return t.AppendEach(dst)
}

func (e *fetchEncoder) appendBody(dst []byte, r *kmsg.FetchResponse) []byte {
	v := e.version
	if v >= 1 {
		dst = kbin.AppendInt32(dst, r.ThrottleMillis)
	}
	if v >= 7 {
		dst = kbin.AppendInt16(dst, r.ErrorCode)
		dst = kbin.AppendInt32(dst, r.SessionID)
	}
	dst = e.arrayLen(dst, len(r.Topics))
	for ti := range r.Topics {
		t := &r.Topics[ti]
		if v <= 12 {
			if e.flexible {
				dst = kbin.AppendCompactString(dst, t.Topic)
			} else {
				dst = kbin.AppendString(dst, t.Topic)
			}
		}
		if v >= 13 {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = e.arrayLen(dst, len(t.Partitions))
		for pi := range t.Partitions {
			dst = e.appendPartition(dst, ti, pi, &t.Partitions[pi])
		}
		dst = e.tags(dst, &t.UnknownTags)
	}
	if e.flexible {
		n := 0
		if len(r.Brokers) > 0 {
			n = 1
		}
		dst = kbin.AppendUvarint(dst, uint32(n+r.UnknownTags.Len()))
		if n > 0 {
			dst = appendTagged(dst, 0, func(b []byte) []byte { return e.appendBrokers(b, r.Brokers) })
		}
		dst = r.UnknownTags.AppendEach(dst)
	}
	return dst
}

func (e *fetchEncoder) appendPartition(dst []byte, ti, pi int, p *kmsg.FetchResponseTopicPartition) []byte {
	v := e.version
	dst = kbin.AppendInt32(dst, p.Partition)
	dst = kbin.AppendInt16(dst, p.ErrorCode)
	dst = kbin.AppendInt64(dst, p.HighWatermark)
	if v >= 4 {
		dst = kbin.AppendInt64(dst, p.LastStableOffset)
	}
	if v >= 5 {
		dst = kbin.AppendInt64(dst, p.LogStartOffset)
	}
	if v >= 4 {
		txns := p.AbortedTransactions
		if e.flexible {
			dst = kbin.AppendCompactNullableArrayLen(dst, len(txns), txns == nil)
		} else {
			dst = kbin.AppendNullableArrayLen(dst, len(txns), txns == nil)
		}
		for i := range txns {
			dst = kbin.AppendInt64(dst, txns[i].ProducerID)
			dst = kbin.AppendInt64(dst, txns[i].FirstOffset)
			dst = e.tags(dst, &txns[i].UnknownTags)
		}
	}
	if v >= 11 {
		dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
	}
	dst = e.appendRecords(dst, ti, pi, p.RecordBatches)
	if e.flexible {
		dst = e.appendPartitionTags(dst, p)
	}
	return dst
}

// appendRecords encodes the record set field: inline, or a length prefix
// and a cut for a record set the caller supplies.
func (e *fetchEncoder) appendRecords(dst []byte, ti, pi int, inline []byte) []byte {
	n := int64(-1)
	if e.external != nil {
		n = e.external(ti, pi)
	}
	if n < 0 {
		if e.flexible {
			return kbin.AppendCompactNullableBytes(dst, inline)
		}
		return kbin.AppendNullableBytes(dst, inline)
	}
	if n >= math.MaxInt32 {
		if e.err == nil {
			e.err = fmt.Errorf("%w: record set of %d bytes (topic %d, partition %d)", ErrResponseTooLarge, n, ti, pi)
		}
		return dst
	}
	if e.flexible {
		dst = kbin.AppendUvarint(dst, uint32(n)+1)
	} else {
		dst = kbin.AppendInt32(dst, int32(n))
	}
	if n > 0 {
		e.cuts = append(e.cuts, FetchCut{At: len(dst), Topic: ti, Partition: pi, Len: n})
	}
	return dst
}

// appendPartitionTags encodes the partition's tagged fields as kmsg does:
// DivergingEpoch (0), CurrentLeader (1) and SnapshotID (2) when they differ
// from their defaults, then the unknown tags.
func (e *fetchEncoder) appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	de, cl, sn := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	// kmsg compares with the defaults by deep equality, unknown tags
	// included; kmsg.Tags only ever holds a map with entries, so an empty
	// Len is equal to the default.
	hasDE := de.Epoch != -1 || de.EndOffset != -1 || de.UnknownTags.Len() > 0
	hasCL := cl.LeaderID != -1 || cl.LeaderEpoch != -1 || cl.UnknownTags.Len() > 0
	hasSn := sn.EndOffset != -1 || sn.Epoch != -1 || sn.UnknownTags.Len() > 0
	n := 0
	for _, has := range []bool{hasDE, hasCL, hasSn} {
		if has {
			n++
		}
	}
	dst = kbin.AppendUvarint(dst, uint32(n+p.UnknownTags.Len()))
	if hasDE {
		dst = appendTagged(dst, 0, func(b []byte) []byte {
			b = kbin.AppendInt32(b, de.Epoch)
			b = kbin.AppendInt64(b, de.EndOffset)
			return e.tags(b, &de.UnknownTags)
		})
	}
	if hasCL {
		dst = appendTagged(dst, 1, func(b []byte) []byte {
			b = kbin.AppendInt32(b, cl.LeaderID)
			b = kbin.AppendInt32(b, cl.LeaderEpoch)
			return e.tags(b, &cl.UnknownTags)
		})
	}
	if hasSn {
		dst = appendTagged(dst, 2, func(b []byte) []byte {
			b = kbin.AppendInt64(b, sn.EndOffset)
			b = kbin.AppendInt32(b, sn.Epoch)
			return e.tags(b, &sn.UnknownTags)
		})
	}
	return p.UnknownTags.AppendEach(dst)
}

func (e *fetchEncoder) appendBrokers(dst []byte, brokers []kmsg.FetchResponseBroker) []byte {
	dst = e.arrayLen(dst, len(brokers))
	for i := range brokers {
		b := &brokers[i]
		dst = kbin.AppendInt32(dst, b.NodeID)
		dst = kbin.AppendCompactString(dst, b.Host)
		dst = kbin.AppendInt32(dst, b.Port)
		dst = kbin.AppendCompactNullableString(dst, b.Rack)
		dst = e.tags(dst, &b.UnknownTags)
	}
	return dst
}

// appendTagged appends a tagged field: its tag, its size and the bytes
// body encodes (built apart first because the size comes before them;
// tagged fields are rare in fetch responses).
func appendTagged(dst []byte, tag uint32, body func([]byte) []byte) []byte {
	b := body(nil)
	dst = kbin.AppendUvarint(dst, tag)
	dst = kbin.AppendUvarint(dst, uint32(len(b)))
	return append(dst, b...)
}
