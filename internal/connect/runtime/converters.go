package runtime

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
)

// defaultHeaderConverter is Kafka's header.converter default.
const defaultHeaderConverter = "org.apache.kafka.connect.storage.SimpleHeaderConverter"

// converters are a task's key, value and header converters.
type converters struct {
	key, value           connect.Converter
	header               connect.HeaderConverter
	keyClass, valueClass string
	headerClass          string
}

// buildConverters picks each converter as Kafka Connect does: the
// connector's key.converter (configured with the connector's
// key.converter.* keys) when set, the worker's (with the worker's keys)
// otherwise. header.converter falls back to SimpleHeaderConverter when
// registered, else to a pass-through of bytes and strings.
func buildConverters(reg *connect.Registry, worker, conn map[string]string) (*converters, error) {
	c := &converters{}
	var err error
	if c.key, c.keyClass, err = newConverter(reg, worker, conn, connect.KeyKeyConverter, true); err != nil {
		return nil, err
	}
	if c.value, c.valueClass, err = newConverter(reg, worker, conn, connect.KeyValueConverter, false); err != nil {
		return nil, err
	}
	src, class := pickClass(worker, conn, connect.KeyHeaderConverter)
	if class == "" {
		if _, ok := reg.Lookup(defaultHeaderConverter); !ok {
			c.header, c.headerClass = bytesHeaderConverter{}, "bytesHeaderConverter"
			return c, nil
		}
		class = defaultHeaderConverter
	}
	p, ok := reg.Lookup(class)
	if !ok || p.Type != connect.PluginHeaderConverter {
		return nil, fmt.Errorf("%s: class %q not found", connect.KeyHeaderConverter, class)
	}
	hc, ok := p.New().(connect.HeaderConverter)
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a header converter", connect.KeyHeaderConverter, class)
	}
	props := withPrefix(src, connect.KeyHeaderConverter+".")
	props["converter.type"] = "header"
	if err := hc.Configure(props); err != nil {
		return nil, fmt.Errorf("%s %s: %w", connect.KeyHeaderConverter, class, err)
	}
	c.header, c.headerClass = hc, p.Class
	return c, nil
}

// pickClass returns the configuration the converter named by key comes
// from (the connector's when it sets the key) and its class.
func pickClass(worker, conn map[string]string, key string) (map[string]string, string) {
	if v := conn[key]; v != "" {
		return conn, v
	}
	return worker, worker[key]
}

func newConverter(reg *connect.Registry, worker, conn map[string]string, key string, isKey bool) (connect.Converter, string, error) {
	src, class := pickClass(worker, conn, key)
	if class == "" {
		return nil, "", fmt.Errorf("%s is set neither in the connector's nor in the worker's configuration", key)
	}
	p, ok := reg.Lookup(class)
	if !ok || (p.Type != connect.PluginConverter && p.Type != connect.PluginHeaderConverter) {
		return nil, "", fmt.Errorf("%s: class %q not found", key, class)
	}
	cv, ok := p.New().(connect.Converter)
	if !ok {
		return nil, "", fmt.Errorf("%s: %s is not a converter", key, class)
	}
	props := withPrefix(src, key+".")
	props["converter.type"] = map[bool]string{true: "key", false: "value"}[isKey]
	if err := cv.Configure(props, isKey); err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", key, class, err)
	}
	return cv, p.Class, nil
}

// bytesHeaderConverter passes header bytes through (schemaless bytes in,
// []byte or string out): the fallback when no header converter is
// registered.
type bytesHeaderConverter struct{}

// Configure takes no keys.
func (bytesHeaderConverter) Configure(map[string]string) error { return nil }

// FromConnectHeader passes bytes and strings.
func (bytesHeaderConverter) FromConnectHeader(_, key string, _ *connect.Schema, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return t, nil
	case string:
		return []byte(t), nil
	}
	return nil, fmt.Errorf("header %s: no header.converter for a %T", key, v)
}

// ToConnectHeader returns the bytes, schemaless.
func (bytesHeaderConverter) ToConnectHeader(_, _ string, data []byte) (*connect.Schema, any, error) {
	return nil, data, nil
}
