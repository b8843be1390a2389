package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodeRequest frames req as a client would (kmsg's own request writer).
func encodeRequest(t testing.TB, req kmsg.Request, corr int32, clientID string) []byte {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	return f.AppendRequest(nil, req, corr)
}

func TestParseRequest_RoundTrip(t *testing.T) {
	cases := []struct {
		name string
		req  kmsg.Request
	}{
		{"metadata v0", func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.Version = 0; return r }()},
		{"metadata v12 flexible", func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 12
			rt := kmsg.NewMetadataRequestTopic()
			n := "orders"
			rt.Topic = &n
			r.Topics = append(r.Topics, rt)
			return r
		}()},
		{"api versions v3", func() kmsg.Request { r := kmsg.NewPtrApiVersionsRequest(); r.Version = 3; return r }()},
		{"produce v9", func() kmsg.Request { r := kmsg.NewPtrProduceRequest(); r.Version = 9; r.Acks = -1; return r }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := encodeRequest(t, c.req, 42, "tester")
			body, err := ReadFrame(bytes.NewReader(frame), 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			if got.CorrelationID != 42 || got.ClientID != "tester" || got.Key != c.req.Key() || got.Version != c.req.GetVersion() {
				t.Fatalf("header %+v", got.Header)
			}
			if !bytes.Equal(got.Body.AppendTo(nil), c.req.AppendTo(nil)) {
				t.Fatal("body does not round-trip")
			}
		})
	}
}

func TestReadFrame_Limits(t *testing.T) {
	big := binary.BigEndian.AppendUint32(nil, 1<<30)
	if _, err := ReadFrame(bytes.NewReader(big), 1<<20, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	neg := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	if _, err := ReadFrame(bytes.NewReader(neg), 1<<20, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("negative: %v", err)
	}
	short := binary.BigEndian.AppendUint32(nil, 3)
	if _, err := ReadFrame(bytes.NewReader(append(short, 1, 2, 3)), 1<<20, nil); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("short: %v", err)
	}
	partial := append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 10)...)
	if _, err := ReadFrame(bytes.NewReader(partial), 1<<20, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("partial: %v", err)
	}
}

func TestParseRequest_Unsupported(t *testing.T) {
	cases := []struct {
		name         string
		key, version int16
	}{
		{"unknown key", 9999, 0},
		{"produce v2 (magic v0/v1 only)", 0, 2},
		{"fetch beyond max", 1, 99},
		{"telemetry not implemented", 71, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := binary.BigEndian.AppendUint16(nil, uint16(c.key))
			b = binary.BigEndian.AppendUint16(b, uint16(c.version))
			b = binary.BigEndian.AppendUint32(b, 7)
			b = append(b, 0xff, 0xff) // null client id
			got, err := ParseRequest(b)
			if !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("err %v", err)
			}
			if got.CorrelationID != 7 || got.Key != c.key {
				t.Fatalf("header not decoded: %+v", got.Header)
			}
		})
	}
}

func TestAppendResponse_HeaderVersions(t *testing.T) {
	// ApiVersions responses use header v0 even when flexible (KIP-511).
	av := kmsg.NewPtrApiVersionsResponse()
	av.Version = 3
	out := AppendResponse(nil, 5, av)
	if got := len(out) - 8; got != len(av.AppendTo(nil)) {
		t.Fatalf("api versions body %d bytes, want no header tags", got)
	}
	md := kmsg.NewPtrMetadataResponse()
	md.Version = 12
	out = AppendResponse(nil, 5, md)
	if out[8] != 0 || len(out)-9 != len(md.AppendTo(nil)) {
		t.Fatal("flexible response must carry an empty header tag section")
	}
	if binary.BigEndian.Uint32(out) != uint32(len(out)-4) {
		t.Fatal("size prefix wrong")
	}
}

// A flexible header claiming four billion tagged fields in a 15-byte frame
// must be refused at once, not looped over.
func TestParseRequest_HostileHeaderTagCount(t *testing.T) {
	frame := []byte{0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f}
	done := make(chan error, 1)
	go func() { _, err := ParseRequest(frame); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrMalformedRequest) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ParseRequest spun on a hostile tag count")
	}
}

// The same hostile count inside a request body is kmsg's to decode; Fjord's
// patched copy (third_party/kmsg/FJORD_PATCH.md) stops at the end of input.
func TestParseRequest_HostileBodyTagCount(t *testing.T) {
	// Metadata v12: header (key, version, corr, client id "", no header
	// tags), then a null topic array, two booleans, and a body tag count of
	// 2^32-1 with nothing after it.
	frame := []byte{0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f}
	done := make(chan error, 1)
	go func() { _, err := ParseRequest(frame); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrMalformedRequest) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ParseRequest spun on a hostile body tag count")
	}
}
