package coordinator

import "unicode/utf16"

// PartitionFor returns the coordinator partition of a key (a group ID, a
// transactional ID): Utils.abs(key.hashCode()) % numPartitions, exactly as
// Kafka computes it, so a key lands on the same partition as on a Kafka
// cluster with the same partition count.
func PartitionFor(key string, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return 0
	}
	return javaAbs(JavaStringHashCode(key)) % numPartitions
}

// JavaStringHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over UTF-16 code units, in wrapping 32-bit arithmetic. Invalid UTF-8 bytes
// count as U+FFFD, as Java's decoder replaces them.
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r < 0x10000 {
			h = 31*h + int32(r)
			continue
		}
		hi, lo := utf16.EncodeRune(r)
		h = 31*h + hi
		h = 31*h + lo
	}
	return h
}

// javaAbs is Kafka's Utils.abs: Math.abs, except that MinInt32 maps to 0.
func javaAbs(n int32) int32 {
	if n == -1<<31 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}
