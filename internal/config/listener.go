package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners,
// written NAME://host:port (IPv6 hosts in brackets).
type Listener struct {
	// Name is the listener name, upper-cased as Kafka normalises it.
	Name string
	// Host is the host or IP; "" binds every interface (or, advertised,
	// leaves the choice to the node).
	Host string
	// Port is the TCP port; 0 asks the OS for a free port (tests).
	Port int
	// SecurityProtocol comes from listener.security.protocol.map:
	// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	SecurityProtocol string
}

// Address returns host:port for net.Listen or a client.
func (l Listener) Address() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String returns NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Address() }

// Voter is one entry of controller.quorum.voters, written id@host:port.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Address returns host:port.
func (v Voter) Address() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// isSecurityProtocol reports whether p is one of Kafka's SecurityProtocol names.
func isSecurityProtocol(p string) bool {
	switch p {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		return true
	}
	return false
}

// ParseListener parses NAME://host:port. The name is upper-cased; the
// security protocol is left empty (LoadBroker fills it from the map).
func ParseListener(s string) (Listener, error) {
	s = trim(s)
	name, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Listener{}, fmt.Errorf("listener %q is not NAME://host:port", s)
	}
	if err := checkListenerName(name); err != nil {
		return Listener{}, fmt.Errorf("listener %q: %w", s, err)
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %w", s, err)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

func checkListenerName(name string) error {
	if name == "" {
		return errors.New("empty listener name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("listener name %q has character %q", name, r)
		}
	}
	return nil
}

// splitHostPort splits host:port ([v6]:port for IPv6) with port in 0..65535.
func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: want host:port", s)
	}
	if strings.ContainsAny(host, " \t/@,") {
		return "", 0, fmt.Errorf("address %q: bad host", s)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: port must be 0..65535", s)
	}
	return host, port, nil
}

// parseListenerList parses a listeners value and rejects repeated names and
// (for bound listeners) repeated non-zero ports on one host.
func parseListenerList(items []string, advertised bool) ([]Listener, error) {
	out := make([]Listener, 0, len(items))
	for _, it := range items {
		l, err := ParseListener(it)
		if err != nil {
			return nil, err
		}
		if advertised && (l.Host == "0.0.0.0" || l.Host == "::") {
			return nil, fmt.Errorf("listener %s: cannot advertise the wildcard address %s", l.Name, l.Host)
		}
		for _, o := range out {
			if o.Name == l.Name {
				return nil, fmt.Errorf("listener name %s is repeated", l.Name)
			}
			if !advertised && l.Port != 0 && o.Port == l.Port && o.Host == l.Host {
				return nil, fmt.Errorf("listeners %s and %s share port %d", o.Name, l.Name, l.Port)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseVoters parses controller.quorum.voters: id@host:port items.
func ParseVoters(items []string) ([]Voter, error) {
	out := make([]Voter, 0, len(items))
	for _, it := range items {
		id, addr, ok := strings.Cut(trim(it), "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not id@host:port", it)
		}
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("voter %q: id must be a non-negative int", it)
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("voter %q: %w", it, err)
		}
		if host == "" || port == 0 {
			return nil, fmt.Errorf("voter %q: host and port are required", it)
		}
		for _, o := range out {
			if o.ID == int32(n) {
				return nil, fmt.Errorf("voter id %d is repeated", n)
			}
		}
		out = append(out, Voter{ID: int32(n), Host: host, Port: port})
	}
	return out, nil
}

// ParseSecurityProtocolMap parses listener.security.protocol.map
// (NAME:PROTOCOL,...). Names and protocols are upper-cased, as Kafka does.
func ParseSecurityProtocolMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range splitList(s) {
		name, proto, ok := strings.Cut(it, ":")
		if !ok {
			return nil, fmt.Errorf("entry %q is not NAME:PROTOCOL", it)
		}
		name, proto = strings.ToUpper(trim(name)), strings.ToUpper(trim(proto))
		if err := checkListenerName(name); err != nil {
			return nil, fmt.Errorf("entry %q: %w", it, err)
		}
		if !isSecurityProtocol(proto) {
			return nil, fmt.Errorf("entry %q: unknown security protocol %s", it, proto)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener name %s is repeated", name)
		}
		out[name] = proto
	}
	return out, nil
}

// checkClusterID accepts a Kafka cluster ID: 16 bytes in URL-safe base64
// without padding (22 characters), as kafka-storage random-uuid prints.
func checkClusterID(s string) error {
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return errors.New("not a Kafka UUID (22 characters of URL-safe base64)")
	}
	return nil
}

// checkHostPorts accepts a list of host:port items (controller.quorum.bootstrap.servers).
func checkHostPorts(items []string) error {
	for _, it := range items {
		if _, _, err := splitHostPort(it); err != nil {
			return err
		}
	}
	return nil
}

// checkListeners validates a listeners value standalone (names, addresses,
// repeats); cross-key checks happen in LoadBroker.
func checkListeners(advertised bool) func([]string) error {
	return func(items []string) error {
		_, err := parseListenerList(items, advertised)
		return err
	}
}

// ParseHTTPListener reads one http.listeners entry, "http://host:port",
// into the address to bind. Only plain HTTP is served.
func ParseHTTPListener(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q is not http://host:port", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return "", fmt.Errorf("%q is not http://host:port", s)
	}
	return u.Host, nil
}
