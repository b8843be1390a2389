package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors of the framing and header layer. The server closes the
// connection on ErrFrameTooLarge and ErrMalformedRequest (Kafka does the same:
// a client that sends garbage cannot be answered reliably), and answers
// ErrUnsupportedVersion with an error response where the API allows it.
var (
	ErrFrameTooLarge      = errors.New("request frame larger than socket.request.max.bytes")
	ErrMalformedRequest   = errors.New("malformed request")
	ErrUnsupportedVersion = errors.New("unsupported api key or version")
)

// ApiVersionsKey is the API key of ApiVersions, whose responses always use
// header v0 so that a client can parse them before knowing our versions.
const ApiVersionsKey = 18

// ReadFrame reads one size-prefixed frame from r into buf (grown as needed)
// and returns the frame body. A declared size above max is rejected before
// any allocation, so a hostile length cannot exhaust memory.
func ReadFrame(r io.Reader, max int32, buf []byte) ([]byte, error) {
	n, err := ReadFrameSize(r, max)
	if err != nil {
		return nil, err
	}
	return ReadFrameBody(r, n, buf)
}

// ReadFrameSize reads a frame's size prefix and checks it as ReadFrame
// does, so a caller can account for the body before reading it.
func ReadFrameSize(r io.Reader, max int32) (int32, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > max {
		return 0, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if n < 8 {
		return 0, fmt.Errorf("%w: frame of %d bytes is shorter than a request header", ErrMalformedRequest, n)
	}
	return n, nil
}

// ReadFrameBody reads the n-byte body of a frame whose size ReadFrameSize
// returned into buf (grown as needed).
func ReadFrameBody(r io.Reader, n int32, buf []byte) ([]byte, error) {
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Header is a decoded request header.
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
}

// Request is one decoded request: its header and body.
type Request struct {
	Header
	Body kmsg.Request
}

// ParseRequest decodes a frame body into a header and a kmsg request. When
// the key or version is not implemented it returns the decoded header and an
// error wrapping ErrUnsupportedVersion, so the caller can still answer (for
// ApiVersions) or log which API the client wanted.
func ParseRequest(frame []byte) (Request, error) {
	r := kbin.Reader{Src: frame}
	h := Header{Key: r.Int16(), Version: r.Int16(), CorrelationID: r.Int32()}
	cid := r.NullableString()
	if !r.Ok() {
		return Request{Header: h}, fmt.Errorf("%w: truncated header", ErrMalformedRequest)
	}
	if cid != nil {
		h.ClientID = *cid
	}
	if !Supported(h.Key, h.Version) {
		return Request{Header: h}, fmt.Errorf("%w: %s (key %d) v%d", ErrUnsupportedVersion, kmsg.NameForKey(h.Key), h.Key, h.Version)
	}
	req := kmsg.RequestForKey(h.Key)
	req.SetVersion(h.Version)
	if req.IsFlexible() {
		if err := skipHeaderTags(&r); err != nil {
			return Request{Header: h}, err
		}
	}
	if err := decodeBody(req, r.Src); err != nil {
		return Request{Header: h}, fmt.Errorf("%w: %s v%d body: %v", ErrMalformedRequest, kmsg.NameForKey(h.Key), h.Version, err)
	}
	return Request{Header: h, Body: req}, nil
}

// skipHeaderTags skips the header's tagged fields. It bounds the tag count
// by the bytes left (each tag takes at least two), where kmsg.SkipTags
// would loop over a hostile count of four billion on an exhausted reader.
func skipHeaderTags(r *kbin.Reader) error {
	n := r.Uvarint()
	if !r.Ok() || int(n) > len(r.Src)/2 {
		return fmt.Errorf("%w: header claims %d tagged fields in %d bytes", ErrMalformedRequest, n, len(r.Src))
	}
	for ; n > 0; n-- {
		_, size := r.Uvarint(), r.Uvarint()
		if !r.Ok() || int(size) > len(r.Src) {
			return fmt.Errorf("%w: truncated header tags", ErrMalformedRequest)
		}
		r.Span(int(size))
	}
	return nil
}

// decodeBody shields the server from a decoder panic on hostile input: kmsg
// is generated code that bounds-checks through kbin, but a panic here would
// kill every connection, so it is turned into an error.
func decodeBody(req kmsg.Request, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return req.ReadFrom(body)
}

// AppendResponse appends a complete response frame (size, correlation ID,
// header tags when flexible, body) to dst.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != ApiVersionsKey {
		dst = append(dst, 0) // empty header tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
