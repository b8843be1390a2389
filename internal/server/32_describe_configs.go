package server

// DescribeConfigs (key 32), v0-v4, for topics (resource type 2) and this
// broker (type 4): every key with its value, source (dynamic topic override,
// static broker setting, or default), read-only and sensitive flags,
// synonyms (v1+, in Kafka's precedence order), type and documentation (v3+).
// Sensitive values are returned as null.

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
)

const (
	resourceTopic  = 2
	resourceBroker = 4
)

type describedConfig struct {
	Name        string
	Value       *string
	ReadOnly    bool
	Source      int8
	IsSensitive bool
	Type        int8
	Doc         *string
	Synonyms    []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

// describeTopicConfigs describes a topic with the given overrides, limited
// to names when not nil.
func (b *Broker) describeTopicConfigs(overrides map[string]string, names []string, synonyms, docs bool) []describedConfig {
	return convertEntries(config.DescribeTopic(b.cfg.Broker, overrides), names, synonyms, docs)
}

func convertEntries(entries []config.Entry, names []string, synonyms, docs bool) []describedConfig {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []describedConfig
	for _, e := range entries {
		if names != nil && !want[e.Name] {
			continue
		}
		d := describedConfig{Name: e.Name, Value: e.Value, ReadOnly: e.ReadOnly, Source: int8(e.Source), IsSensitive: e.Sensitive, Type: int8(e.Type)}
		if e.Sensitive {
			d.Value = nil
		}
		if docs && e.Doc != "" {
			doc := e.Doc
			d.Doc = &doc
		}
		if synonyms {
			for _, s := range e.Synonyms {
				ks := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				ks.Name, ks.Value, ks.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
				if e.Sensitive {
					ks.Value = nil
				}
				d.Synonyms = append(d.Synonyms, ks)
			}
		}
		out = append(out, d)
	}
	return out
}

func (b *Broker) handleDescribeConfigs(req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []describedConfig
		synonyms := req.IncludeSynonyms || req.Version == 0
		switch rr.ResourceType {
		case resourceTopic:
			t := b.meta.Image().Topic(rr.ResourceName)
			if t == nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			entries = b.describeTopicConfigs(t.Configs, rr.ConfigNames, synonyms, req.IncludeDocumentation)
		case resourceBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				msg := "unknown broker " + rr.ResourceName
				sr.ErrorMessage = &msg
				break
			}
			// The dynamic overrides come from the metadata log: the
			// broker's own (not for "", the cluster default) and the
			// cluster default's.
			img := b.meta.Image()
			var own map[string]string
			if rr.ResourceName != "" {
				own = img.BrokerConfigs(rr.ResourceName)
			}
			entries = convertEntries(config.DescribeBrokerDynamic(b.cfg.Broker, b.cfg.BrokerProps, own, img.BrokerConfigs("")),
				rr.ConfigNames, synonyms, req.IncludeDocumentation)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			msg := "unsupported resource type " + strconv.Itoa(int(rr.ResourceType))
			sr.ErrorMessage = &msg
		}
		for _, e := range entries {
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, kmsg.ConfigSource(e.Source), e.IsSensitive
			c.IsDefault = e.Source == int8(config.SourceDefault)
			c.ConfigType = kmsg.ConfigType(e.Type)
			c.Documentation = e.Doc
			c.ConfigSynonyms = e.Synonyms
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
