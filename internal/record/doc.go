// Package record reads, checks and patches Kafka RecordBatch v2 bytes without
// re-encoding them.
//
// A batch is the unit Fjord stores and serves: the bytes a producer sent are
// the bytes a consumer fetches, so this package works on []byte views. It
// knows nothing of files, partitions or the network.
//
// Invariants kept by this package:
//   - No function panics on any input; malformed bytes yield an error that
//     wraps one of the exported sentinels (ErrCorrupt, ErrInvalidRecord, ...).
//   - Validate never modifies its input. Only the Set* mutators write, and
//     each leaves a CRC-valid batch CRC-valid: SetBaseOffset and
//     SetPartitionLeaderEpoch touch fields outside the CRC, SetLogAppendTime
//     and SetMaxTimestamp recompute it.
//   - Validating uncompressed batches does not allocate.
//
// Layout of the 61-byte v2 batch header (big endian), byte offset: field:
//
//	 0: baseOffset int64
//	 8: batchLength int32 (bytes after this field)
//	12: partitionLeaderEpoch int32
//	16: magic int8 (2)
//	17: crc uint32 (CRC-32C of bytes 21..end)
//	21: attributes int16
//	23: lastOffsetDelta int32
//	27: baseTimestamp int64
//	35: maxTimestamp int64
//	43: producerId int64
//	51: producerEpoch int16
//	53: baseSequence int32
//	57: recordCount int32
//	61: records
package record
