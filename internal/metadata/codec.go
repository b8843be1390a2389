package metadata

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kbin"
)

// reader decodes record fields; the first failure sticks in err and every
// later read returns zero values, so field lists read straight through.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) kr() *kbin.Reader { return &kbin.Reader{Src: r.b} }

// run reads one value with kbin and keeps what is left.
func run[T any](r *reader, f func(*kbin.Reader) T) T {
	var zero T
	if r.err != nil {
		return zero
	}
	kr := r.kr()
	v := f(kr)
	if !kr.Ok() {
		r.err = errShort
		return zero
	}
	r.b = kr.Src
	return v
}

func (r *reader) uvarint() uint32 { return run(r, (*kbin.Reader).Uvarint) }
func (r *reader) int8() int8      { return run(r, (*kbin.Reader).Int8) }
func (r *reader) int16() int16    { return run(r, (*kbin.Reader).Int16) }
func (r *reader) uint16() uint16  { return run(r, (*kbin.Reader).Uint16) }
func (r *reader) int32() int32    { return run(r, (*kbin.Reader).Int32) }
func (r *reader) int64() int64    { return run(r, (*kbin.Reader).Int64) }
func (r *reader) bool() bool      { return run(r, (*kbin.Reader).Bool) }
func (r *reader) uuid() [16]byte  { return run(r, (*kbin.Reader).Uuid) }
func (r *reader) string() string  { return run(r, (*kbin.Reader).CompactString) }
func (r *reader) nullableString() *string {
	return run(r, (*kbin.Reader).CompactNullableString)
}

// int32s reads a compact (nullable) int32 array; null reads as nil, an
// empty array as a non-nil empty slice.
func (r *reader) int32s() []int32 {
	n := run(r, (*kbin.Reader).CompactArrayLen)
	if r.err != nil || n < 0 {
		return nil
	}
	if int(n)*4 > len(r.b) {
		r.err = errShort
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = r.int32()
	}
	return out
}

// arrayLen reads a compact array length bounded by the bytes left.
func (r *reader) arrayLen() int {
	n := run(r, (*kbin.Reader).CompactArrayLen)
	if n < 0 || int(n) > len(r.b) {
		if r.err == nil && n > 0 {
			r.err = errShort
		}
		return 0
	}
	return int(n)
}

// skipTags skips a tagged-field section.
func (r *reader) skipTags() {
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		r.uvarint() // tag
		size := r.uvarint()
		if r.err != nil {
			return
		}
		if int(size) > len(r.b) {
			r.err = errShort
			return
		}
		r.b = r.b[size:]
	}
}

func appendUvarint(b []byte, v uint32) []byte { return kbin.AppendUvarint(b, v) }

// appendInt32s appends a compact nullable int32 array (nil is null).
func appendInt32s(b []byte, v []int32) []byte {
	b = kbin.AppendCompactNullableArrayLen(b, len(v), v == nil)
	for _, x := range v {
		b = kbin.AppendInt32(b, x)
	}
	return b
}

func (r *RegisterBrokerRecord) appendFields(b []byte) []byte {
	b = kbin.AppendInt32(b, r.BrokerID)
	b = kbin.AppendUuid(b, r.IncarnationID)
	b = kbin.AppendInt64(b, r.BrokerEpoch)
	b = kbin.AppendCompactArrayLen(b, len(r.Endpoints))
	for _, e := range r.Endpoints {
		b = kbin.AppendCompactString(b, e.Name)
		b = kbin.AppendCompactString(b, e.Host)
		b = kbin.AppendUint16(b, e.Port)
		b = kbin.AppendInt16(b, e.SecurityProtocol)
		b = appendUvarint(b, 0)
	}
	b = kbin.AppendCompactNullableString(b, r.Rack)
	b = kbin.AppendBool(b, r.Fenced)
	return kbin.AppendBool(b, r.InControlledShutdown)
}

func (r *RegisterBrokerRecord) readFields(d *reader) {
	r.BrokerID = d.int32()
	r.IncarnationID = d.uuid()
	r.BrokerEpoch = d.int64()
	for n := d.arrayLen(); n > 0 && d.err == nil; n-- {
		e := Endpoint{Name: d.string(), Host: d.string(), Port: d.uint16(), SecurityProtocol: d.int16()}
		d.skipTags()
		r.Endpoints = append(r.Endpoints, e)
	}
	r.Rack = d.nullableString()
	r.Fenced = d.bool()
	r.InControlledShutdown = d.bool()
}

func (r *UnregisterBrokerRecord) appendFields(b []byte) []byte {
	return kbin.AppendInt64(kbin.AppendInt32(b, r.BrokerID), r.BrokerEpoch)
}

func (r *UnregisterBrokerRecord) readFields(d *reader) {
	r.BrokerID, r.BrokerEpoch = d.int32(), d.int64()
}

func (r *TopicRecord) appendFields(b []byte) []byte {
	return kbin.AppendUuid(kbin.AppendCompactString(b, r.Name), r.TopicID)
}

func (r *TopicRecord) readFields(d *reader) {
	r.Name, r.TopicID = d.string(), d.uuid()
}

func (r *PartitionRecord) appendFields(b []byte) []byte {
	b = kbin.AppendInt32(b, r.PartitionID)
	b = kbin.AppendUuid(b, r.TopicID)
	b = appendInt32s(b, r.Replicas)
	b = appendInt32s(b, r.ISR)
	b = appendInt32s(b, r.RemovingReplicas)
	b = appendInt32s(b, r.AddingReplicas)
	b = kbin.AppendInt32(b, r.Leader)
	b = kbin.AppendInt32(b, r.LeaderEpoch)
	b = kbin.AppendInt32(b, r.PartitionEpoch)
	b = appendInt32s(b, r.ELR)
	return appendInt32s(b, r.LastKnownELR)
}

func (r *PartitionRecord) readFields(d *reader) {
	r.PartitionID = d.int32()
	r.TopicID = d.uuid()
	r.Replicas, r.ISR = d.int32s(), d.int32s()
	r.RemovingReplicas, r.AddingReplicas = d.int32s(), d.int32s()
	r.Leader, r.LeaderEpoch, r.PartitionEpoch = d.int32(), d.int32(), d.int32()
	r.ELR, r.LastKnownELR = d.int32s(), d.int32s()
}

func (r *PartitionChangeRecord) appendFields(b []byte) []byte {
	b = kbin.AppendInt32(b, r.PartitionID)
	b = kbin.AppendUuid(b, r.TopicID)
	b = appendInt32s(b, r.ISR)
	b = kbin.AppendInt32(b, r.Leader)
	b = appendInt32s(b, r.Replicas)
	b = appendInt32s(b, r.RemovingReplicas)
	b = appendInt32s(b, r.AddingReplicas)
	b = appendInt32s(b, r.ELR)
	return appendInt32s(b, r.LastKnownELR)
}

func (r *PartitionChangeRecord) readFields(d *reader) {
	r.PartitionID = d.int32()
	r.TopicID = d.uuid()
	r.ISR = d.int32s()
	r.Leader = d.int32()
	r.Replicas, r.RemovingReplicas, r.AddingReplicas = d.int32s(), d.int32s(), d.int32s()
	r.ELR, r.LastKnownELR = d.int32s(), d.int32s()
}

func (r *ConfigRecord) appendFields(b []byte) []byte {
	b = kbin.AppendInt8(b, int8(r.ResourceType))
	b = kbin.AppendCompactString(b, r.ResourceName)
	b = kbin.AppendCompactString(b, r.Name)
	return kbin.AppendCompactNullableString(b, r.Value)
}

func (r *ConfigRecord) readFields(d *reader) {
	r.ResourceType = ConfigResourceType(d.int8())
	r.ResourceName, r.Name, r.Value = d.string(), d.string(), d.nullableString()
}

func (r *FenceBrokerRecord) appendFields(b []byte) []byte {
	return kbin.AppendInt64(kbin.AppendInt32(b, r.ID), r.Epoch)
}

func (r *FenceBrokerRecord) readFields(d *reader) { r.ID, r.Epoch = d.int32(), d.int64() }

func (r *UnfenceBrokerRecord) appendFields(b []byte) []byte {
	return kbin.AppendInt64(kbin.AppendInt32(b, r.ID), r.Epoch)
}

func (r *UnfenceBrokerRecord) readFields(d *reader) { r.ID, r.Epoch = d.int32(), d.int64() }

func (r *RemoveTopicRecord) appendFields(b []byte) []byte { return kbin.AppendUuid(b, r.TopicID) }

func (r *RemoveTopicRecord) readFields(d *reader) { r.TopicID = d.uuid() }

func (r *FeatureLevelRecord) appendFields(b []byte) []byte {
	return kbin.AppendInt16(kbin.AppendCompactString(b, r.Name), r.FeatureLevel)
}

func (r *FeatureLevelRecord) readFields(d *reader) { r.Name, r.FeatureLevel = d.string(), d.int16() }

func (r *ProducerIdsRecord) appendFields(b []byte) []byte {
	b = kbin.AppendInt32(b, r.BrokerID)
	b = kbin.AppendInt64(b, r.BrokerEpoch)
	return kbin.AppendInt64(b, r.NextProducerID)
}

func (r *ProducerIdsRecord) readFields(d *reader) {
	r.BrokerID, r.BrokerEpoch, r.NextProducerID = d.int32(), d.int64(), d.int64()
}

func (r *VotersRecord) appendFields(b []byte) []byte {
	b = kbin.AppendCompactArrayLen(b, len(r.Voters))
	for _, v := range r.Voters {
		b = kbin.AppendInt32(b, v.ID)
		b = kbin.AppendUuid(b, v.DirectoryID)
		b = kbin.AppendCompactString(b, v.Host)
		b = kbin.AppendUint16(b, v.Port)
		b = appendUvarint(b, 0)
	}
	return b
}

func (r *VotersRecord) readFields(d *reader) {
	for n := d.arrayLen(); n > 0 && d.err == nil; n-- {
		v := Voter{ID: d.int32(), DirectoryID: d.uuid(), Host: d.string(), Port: d.uint16()}
		d.skipTags()
		r.Voters = append(r.Voters, v)
	}
}
