package protocol

import "github.com/twmb/franz-go/pkg/kmsg"

// VersionRange is the inclusive range of versions Fjord serves for one API.
type VersionRange struct {
	Key        int16
	Min, Max   int16
	introduced string // why the minimum is what it is; shown nowhere, kept for readers
}

// implemented lists every API Fjord answers. Minimums reach below Kafka 4's
// where a client in client-api-versions.md still sends the old version
// (kafka-python 2.0.2: Metadata v0/v1, ApiVersions v0, Fetch v4, ListOffsets
// v1); maximums stop at what the handlers implement and kmsg can encode.
var implemented = [...]VersionRange{
	{0, 3, 13, "v3 is the first Produce carrying magic v2 batches; v13 addresses topics by ID"},
	{1, 4, 18, "v4 is the first Fetch returning magic v2 batches; v13+ topic IDs"},
	{2, 0, 11, "v0 answers OldStyleOffsets"},
	{3, 0, 13, "v0-v3 auto-create topics as Kafka does"},
	{8, 0, 9, "v10 names topics by ID: not yet"},
	{9, 0, 9, "v8+ batches groups; v10 names topics by ID: not yet"},
	{10, 0, 6, "v4+ batches coordinator keys"},
	{11, 0, 9, "classic protocol"},
	{12, 0, 4, ""},
	{13, 0, 5, ""},
	{14, 0, 5, ""},
	{15, 0, 6, ""},
	{16, 0, 5, ""},
	{18, 0, 4, "v3+ flexible; an unknown version is answered in v0"},
	{19, 0, 7, ""},
	{20, 0, 6, "v6 deletes by topic ID"},
	{21, 0, 2, ""},
	{22, 0, 5, "idempotent and transactional producers"},
	{23, 0, 4, ""},
	{24, 0, 5, "v4+ is the brokers' batched form (KIP-890 verification)"},
	{25, 0, 4, ""},
	{26, 0, 5, "v5 is KIP-890 part 2 (an epoch bump per transaction)"},
	{27, 0, 1, "broker to broker: the transaction coordinator's markers"},
	{28, 0, 5, "v3 is KIP-447's group membership; v5 is KIP-890 part 2's implicit add"},
	{32, 0, 4, ""},
	{33, 0, 2, ""},
	{35, 0, 4, ""},
	{37, 0, 3, ""},
	{42, 0, 2, ""},
	{43, 0, 2, "preferred and unclean elections (KIP-460), forwarded to the controller"},
	{44, 0, 1, ""},
	{45, 0, 1, "KIP-455 reassignment, forwarded to the controller; v1 is KIP-860's AllowReplicationFactorChange"},
	{46, 0, 0, "KIP-455, answered by the controller"},
	{47, 0, 0, ""},
	{55, 0, 2, "the metadata quorum, answered by the active controller"},
	{60, 0, 2, ""},
	{61, 0, 0, "KIP-664"},
	{65, 0, 0, "KIP-664"},
	{66, 0, 1, "KIP-664; v1 is KIP-994's duration filter"},
	{68, 0, 1, "KIP-848; v1 has client-generated member IDs and regular expressions"},
	{69, 0, 1, "KIP-848"},
	{75, 0, 0, "KIP-966's eligible leader replicas, which Metadata does not carry"},
	{80, 0, 1, "KIP-853 AddRaftVoter, forwarded to the active controller"},
	{81, 0, 0, "KIP-853 RemoveRaftVoter, forwarded to the active controller"},
}

// Supported reports whether Fjord serves version v of API key.
func Supported(key, v int16) bool {
	r, ok := Lookup(key)
	return ok && v >= r.Min && v <= r.Max
}

// Lookup returns the served range of an API key.
func Lookup(key int16) (VersionRange, bool) {
	for _, r := range implemented {
		if r.Key == key {
			return r, true
		}
	}
	return VersionRange{}, false
}

// Implemented returns the served APIs in key order, for ApiVersions.
func Implemented() []VersionRange {
	out := make([]VersionRange, len(implemented))
	copy(out, implemented[:])
	return out
}

// ApiVersionsKeys returns the table in ApiVersions response form.
func ApiVersionsKeys() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(implemented))
	for _, r := range implemented {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = r.Key, r.Min, r.Max
		out = append(out, k)
	}
	return out
}
