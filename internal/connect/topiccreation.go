package connect

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Topic creation by source connectors (KIP-158): the keys, Kafka's names.
const (
	// WorkerTopicCreation is the worker key that lets source connectors
	// create their topics (default true).
	WorkerTopicCreation = "topic.creation.enable"
	// KeyTopicCreationGroups lists a source connector's groups besides
	// "default", in the order they are matched.
	KeyTopicCreationGroups = "topic.creation.groups"
	topicCreationPrefix    = "topic.creation."
	defaultGroup           = "default"
)

// TopicCreationGroup is one group's settings: the topics it takes
// (Include and not Exclude, regexes matching the whole name), and how
// they are created. -1 is the broker's default partitions or replication
// factor. A group without its own partitions or replication factor takes
// the default group's; its topic configs are its own only, as in Kafka.
type TopicCreationGroup struct {
	Name              string
	Include, Exclude  []*regexp.Regexp
	Partitions        int32
	ReplicationFactor int16
	// Configs are the topic configs (cleanup.policy, ...).
	Configs map[string]*string
}

// TopicCreation is a source connector's topic creation rules.
type TopicCreation struct {
	Groups  []TopicCreationGroup // matched in order
	Default TopicCreationGroup   // the rest
}

// For returns the group whose rules create topic: the first listed group
// that includes and does not exclude it, else the default group.
func (tc *TopicCreation) For(topic string) TopicCreationGroup {
	matches := func(res []*regexp.Regexp) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(topic) })
	}
	for _, g := range tc.Groups {
		if matches(g.Include) && !matches(g.Exclude) {
			return g
		}
	}
	return tc.Default
}

// ParseTopicCreation reads a source connector's topic.creation.* keys. It
// returns nil when the connector has no topic.creation.* key; any such
// key turns topic creation on, and then, as in Kafka,
// topic.creation.default.replication.factor and
// topic.creation.default.partitions are required.
func ParseTopicCreation(config map[string]string) (*TopicCreation, error) {
	key := func(group, k string) string { return topicCreationPrefix + group + "." + k }
	_, hasRF := config[key(defaultGroup, "replication.factor")]
	_, hasParts := config[key(defaultGroup, "partitions")]
	groups := splitList(config[KeyTopicCreationGroups])
	if !slices.ContainsFunc(slices.Collect(maps.Keys(config)), func(k string) bool { return strings.HasPrefix(k, topicCreationPrefix) }) {
		return nil, nil
	}
	for k, present := range map[string]bool{key(defaultGroup, "replication.factor"): hasRF, key(defaultGroup, "partitions"): hasParts} {
		if !present {
			return nil, fmt.Errorf("Missing required configuration \"%s\" which has no default value.", k)
		}
	}
	parse := func(name string, def TopicCreationGroup) (TopicCreationGroup, error) {
		g := TopicCreationGroup{Name: name, Partitions: def.Partitions, ReplicationFactor: def.ReplicationFactor, Configs: map[string]*string{}}
		if v, ok := config[key(name, "replication.factor")]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 16)
			if err != nil || (n < 1 && n != -1) {
				return g, fmt.Errorf("Invalid value %s for configuration %s: Number of replicas must be at least 1 or -1 to use the default value.", v, key(name, "replication.factor"))
			}
			g.ReplicationFactor = int16(n)
		}
		if v, ok := config[key(name, "partitions")]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil || (n < 1 && n != -1) {
				return g, fmt.Errorf("Invalid value %s for configuration %s: Number of partitions must be at least 1 or -1 to use the default value.", v, key(name, "partitions"))
			}
			g.Partitions = int32(n)
		}
		for _, which := range []string{"include", "exclude"} {
			for _, expr := range splitList(config[key(name, which)]) {
				re, err := regexp.Compile("^(?:" + expr + ")$")
				if err != nil {
					return g, fmt.Errorf("Invalid value %s for configuration %s: %v", expr, key(name, which), err)
				}
				if which == "include" {
					g.Include = append(g.Include, re)
				} else {
					g.Exclude = append(g.Exclude, re)
				}
			}
		}
		prefix := topicCreationPrefix + name + "."
		for k, v := range config {
			rest, ok := strings.CutPrefix(k, prefix)
			if !ok || slices.Contains([]string{"replication.factor", "partitions", "include", "exclude"}, rest) {
				continue
			}
			g.Configs[rest] = &v
		}
		return g, nil
	}
	tc := &TopicCreation{}
	var err error
	if tc.Default, err = parse(defaultGroup, TopicCreationGroup{}); err != nil {
		return nil, err
	}
	tc.Default.Include, tc.Default.Exclude = nil, nil // the default group takes every other topic
	seen := map[string]bool{defaultGroup: true}
	for _, name := range groups {
		if seen[name] {
			continue // Kafka ignores "default" and repeats in the list
		}
		seen[name] = true
		g, err := parse(name, tc.Default)
		if err != nil {
			return nil, err
		}
		tc.Groups = append(tc.Groups, g)
	}
	return tc, nil
}

// checkTopicCreation adds a source connector's topic creation error to the
// validation results, on the groups key.
func checkTopicCreation(infos []ConfigInfo, config map[string]string) []ConfigInfo {
	_, err := ParseTopicCreation(config)
	if err == nil {
		return infos
	}
	v := config[KeyTopicCreationGroups]
	return append(infos, ConfigInfo{
		Definition: ConfigKey{Name: KeyTopicCreationGroups, Type: ConfigList, Default: "", Importance: Low,
			Doc: "Groups of configurations for topics created by source connectors (KIP-158)."}.KeyInfo(),
		Value: ConfigValue{Name: KeyTopicCreationGroups, Value: &v, RecommendedValues: []string{}, Visible: true, Errors: []string{err.Error()}},
	})
}
