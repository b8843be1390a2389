package protocol

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequest feeds arbitrary frame bodies to the request decoder.
// Invariants: it never panics; a nil error means the key and version are
// implemented and the decoded body re-encodes without panicking.
func FuzzParseRequest(f *testing.F) {
	for _, r := range Implemented() {
		for _, v := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(v)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, 1)
			f.Add(frame[4:])
		}
	}
	f.Add([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			return
		}
		if !Supported(req.Key, req.Version) {
			t.Fatalf("accepted unsupported %d v%d", req.Key, req.Version)
		}
		_ = req.Body.AppendTo(nil)
	})
}

// FuzzReadFrame checks that framing never panics or over-allocates on
// arbitrary streams, including frames split across reads.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := &oneByteReader{r: bytes.NewReader(stream)}
		for {
			body, err := ReadFrame(r, 1<<16, nil)
			if err != nil {
				return
			}
			if len(body) > 1<<16 {
				t.Fatalf("frame of %d bytes above the limit", len(body))
			}
			_, _ = ParseRequest(body)
		}
	})
}

// oneByteReader delivers one byte per Read, as a slow network would.
type oneByteReader struct{ r *bytes.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// FuzzProduceEntries: the allocation-free walk of a Produce frame agrees
// with kmsg's decoding. Whatever kmsg decodes, the walk counts the same
// topic and partition entries (and refuses it only for entries too many for its size);
// the walk never panics on anything.
func FuzzProduceEntries(f *testing.F) {
	for v := int16(3); v <= 13; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		tp := kmsg.NewProduceRequestTopic()
		tp.Topic = "t"
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = make([]byte, 70)
		tp.Partitions = append(tp.Partitions, pp, pp)
		req.Topics = append(req.Topics, tp, tp)
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, 1)
		f.Add(frame[4:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, werr := ProduceEntries(body)
		req, err := ParseRequest(body)
		if err != nil || req.Key != 0 {
			return
		}
		p := req.Body.(*kmsg.ProduceRequest)
		want := len(p.Topics)
		for _, tp := range p.Topics {
			want += len(tp.Partitions)
		}
		if n != want {
			t.Fatalf("walk counted %d entries (%v), kmsg decoded %d", n, werr, want)
		}
		if werr != nil && int64(want)*ProduceEntryBytes <= int64(len(body))+ProduceStructSlack {
			t.Fatalf("walk refused a frame kmsg decodes, of %d bytes and %d entries: %v", len(body), want, werr)
		}
	})
}
