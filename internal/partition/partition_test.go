package partition

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/record"
)

func topicConfig(t *testing.T, overrides map[string]string) config.Topic {
	t.Helper()
	b, _, err := config.LoadBroker(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.TopicConfig(overrides)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func batch(n int, ts int64) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("value")}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: ts})
}

func openTest(t *testing.T, overrides map[string]string) *Partition {
	t.Helper()
	p, err := Open(ID{"t", 0}, [16]byte{1}, t.TempDir(), topicConfig(t, overrides), 1, 3,
		log.Options{Logger: slog.New(slog.DiscardHandler)}, record.NewDecompressor(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPartition_DurableModeHidesUnsyncedData(t *testing.T) {
	p := openTest(t, nil) // Fjord default: flush.messages=1
	hwW, err := p.Delayed().Watch(HighWatermarkMoved, []ID{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Delayed().Cancel(hwW)
	leoW, err := p.Delayed().Watch(LogEndMoved, []ID{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Delayed().Cancel(leoW)
	pend, err := p.Append(batch(3, time.Now().UnixMilli()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the append is durable", hw)
	}
	select {
	case <-leoW.C():
	default:
		t.Fatal("log-end waiter not woken by the append")
	}
	select {
	case <-hwW.C():
		t.Fatal("high-watermark waiter woken before the high watermark moved")
	default:
	}
	if err := pend.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after sync, want 3", hw)
	}
	select {
	case <-hwW.C():
	default:
		t.Fatal("high-watermark waiter not woken on advance")
	}
	if pend.Info.BaseOffset != 0 || pend.Info.LastOffset != 2 {
		t.Fatalf("append info %+v", pend.Info)
	}
}

func TestPartition_PageCacheModeVisibleAtOnce(t *testing.T) {
	p := openTest(t, map[string]string{"flush.messages": "9223372036854775807"})
	if _, err := p.Append(batch(2, time.Now().UnixMilli()), time.Now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2 without waiting", hw)
	}
}

func TestPartition_AppendValidation(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name      string
		overrides map[string]string
		batch     []byte
		want      error
	}{
		{"too large", map[string]string{"max.message.bytes": "50"}, batch(5, now.UnixMilli()), record.ErrRecordTooLarge},
		{"corrupt", nil, func() []byte { b := batch(1, now.UnixMilli()); b[len(b)-1] ^= 0xff; return b }(), record.ErrCorrupt},
		{"timestamp too old", map[string]string{"message.timestamp.before.max.ms": "60000"}, batch(1, now.Add(-time.Hour).UnixMilli()), record.ErrInvalidTimestamp},
		{"keyless on compacted topic", map[string]string{"cleanup.policy": "compact"},
			record.Build([]record.Record{{Value: []byte("v")}}, record.BuildOptions{BaseTimestamp: now.UnixMilli()}), record.ErrNoKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := openTest(t, c.overrides)
			if _, err := p.Append(c.batch, now); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if leo := p.log.LogEndOffset(); leo != 0 {
				t.Fatalf("rejected batch was written: LEO %d", leo)
			}
		})
	}
}

func TestPartition_LogAppendTime(t *testing.T) {
	p := openTest(t, map[string]string{"message.timestamp.type": "LogAppendTime"})
	now := time.UnixMilli(1_700_000_000_000)
	pend, err := p.Append(batch(1, 5), now)
	if err != nil {
		t.Fatal(err)
	}
	if pend.Info.LogAppendTime != now.UnixMilli() {
		t.Fatalf("log append time %d", pend.Info.LogAppendTime)
	}
	_ = pend.Wait(context.Background())
	data, err := p.Read(0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxTimestamp != now.UnixMilli() || h.TimestampType() != record.LogAppendTime {
		t.Fatalf("stored header %+v", h)
	}
	if _, err := record.Validate(data, record.ValidateOptions{}); err != nil {
		t.Fatalf("stamped batch no longer valid: %v", err)
	}
}

func TestPartition_DeleteRecordsBounds(t *testing.T) {
	p := openTest(t, nil)
	pend, _ := p.Append(batch(10, time.Now().UnixMilli()), time.Now())
	_ = pend.Wait(context.Background())
	if _, err := p.DeleteRecordsBefore(11); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("beyond HW: %v", err)
	}
	low, err := p.DeleteRecordsBefore(-1)
	if err != nil || low != 10 {
		t.Fatalf("delete to HW: low %d err %v", low, err)
	}
}

func TestPartition_FixesWrongHeaderMaxTimestamp(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			p := openTest(t, nil)
			now := time.Now()
			b := record.Build([]record.Record{{Key: []byte("k"), Value: []byte("v"), TimestampDelta: 0}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("w"), TimestampDelta: 50}},
				record.BuildOptions{BaseTimestamp: now.UnixMilli(), Codec: codec})
			record.SetMaxTimestamp(b, 1) // a client bug: header disagrees with records
			pend, err := p.Append(b, now)
			if err != nil {
				t.Fatal(err)
			}
			_ = pend.Wait(context.Background())
			data, _ := p.Read(0, 1<<20, true, nil)
			h, _ := record.ParseHeader(data)
			if h.MaxTimestamp != now.UnixMilli()+50 {
				t.Fatalf("header max timestamp %d, want %d", h.MaxTimestamp, now.UnixMilli()+50)
			}
			if ts, off := p.log.MaxTimestamp(); ts != now.UnixMilli()+50 || off != 1 {
				t.Fatalf("log max timestamp %d at %d", ts, off)
			}
		})
	}
}
