package config

// KIP-1066's cordoned log directories. A broker whose log directories are
// all cordoned takes no new replicas; Fjord's controller and CLI read the
// per-broker dynamic value only (the controller never sees a broker's
// server.properties), so the key is refused in the properties and for the
// cluster-wide default.

// CordonedLogDirs is Kafka's cordoned.log.dirs key.
const CordonedLogDirs = "cordoned.log.dirs"

// CordonAll is the cordoned.log.dirs value naming every log directory.
const CordonAll = "*"

// Cordoned reports whether a broker with these dynamic overrides (its own
// BROKER resource's) takes no new replicas. A Fjord node has one log
// directory, so any non-empty value covers all of them.
func Cordoned(perBroker map[string]string) bool {
	return len(splitList(perBroker[CordonedLogDirs])) > 0
}
