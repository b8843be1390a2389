package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record browser bounds: a page shows at most maxRecords records, each
// field cut at maxShown bytes, read within browseTimeout.
const (
	defaultRecords = 20
	maxRecords     = 100
	maxShown       = 16 << 10
	browseTimeout  = 3 * time.Second
)

// shownRecord is a record as the browser page shows it.
type shownRecord struct {
	Offset    int64
	Timestamp string
	Key       string
	Value     string
	JSON      bool // Value is indented JSON
	Headers   []string
	Cut       bool // Value was cut at maxShown bytes
}

// show turns bytes into text: JSON indented, other UTF-8 as it is,
// anything else in hex; cut at maxShown bytes.
func show(b []byte) (text string, isJSON, cut bool) {
	if b == nil {
		return "null", false, false
	}
	if len(b) > maxShown {
		b, cut = b[:maxShown], true
	}
	if !cut && json.Valid(b) && len(bytes.TrimSpace(b)) > 0 && (bytes.TrimSpace(b)[0] == '{' || bytes.TrimSpace(b)[0] == '[') {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			return out.String(), true, false
		}
	}
	if utf8.Valid(b) {
		return string(b), false, cut
	}
	return "0x" + hex.EncodeToString(b), false, cut
}

// records serves /topics/{name}/records?partition=P&offset=O (or
// &timestamp=ms) &limit=N: the records of one partition from there.
func (c *Console) records(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	part, perr := strconv.ParseInt(cmp.Or(q.Get("partition"), "0"), 10, 32)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 {
		limit = defaultRecords
	}
	limit = min(limit, maxRecords)
	data := map[string]any{"Title": name + " records", "Name": name, "Partition": part, "Limit": limit, "Token": c.token,
		"Offset": q.Get("offset"), "Timestamp": q.Get("timestamp")}
	if perr != nil || part < 0 {
		data["PageError"] = "partition: want a number from 0"
		c.renderStatus(w, http.StatusBadRequest, "records", data)
		return
	}
	if len(c.seeds) == 0 {
		data["PageError"] = "the record browser needs the cluster's addresses (Config.Seeds)"
		c.render(w, "records", data)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	// The offsets are resolved first, so reading stops at the end
	// instead of waiting for records that are not there.
	starts, err1 := c.adm.ListStartOffsets(ctx, name)
	ends, err2 := c.adm.ListEndOffsets(ctx, name)
	so, ok1 := starts.Lookup(name, int32(part))
	eo, ok2 := ends.Lookup(name, int32(part))
	if err := cmp.Or(err1, err2, so.Err, eo.Err); err != nil || !ok1 || !ok2 {
		data["PageError"] = fmt.Sprintf("partition %s/%d: %v", name, part, cmp.Or(err, fmt.Errorf("no such partition")))
		c.renderStatus(w, http.StatusNotFound, "records", data)
		return
	}
	from := so.Offset
	switch {
	case q.Get("timestamp") != "":
		ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
		if err != nil {
			data["PageError"] = "timestamp: want milliseconds since the epoch"
			c.renderStatus(w, http.StatusBadRequest, "records", data)
			return
		}
		at, err := c.adm.ListOffsetsAfterMilli(ctx, ms, name)
		if err != nil {
			data["PageError"] = err.Error()
			c.renderStatus(w, http.StatusBadGateway, "records", data)
			return
		}
		if o, ok := at.Lookup(name, int32(part)); ok && o.Err == nil && o.Offset >= 0 {
			from = o.Offset
		} else {
			from = eo.Offset
		}
	case q.Get("offset") != "":
		o, err := strconv.ParseInt(q.Get("offset"), 10, 64)
		if err != nil || o < 0 {
			data["PageError"] = "offset: want a number from 0"
			c.renderStatus(w, http.StatusBadRequest, "records", data)
			return
		}
		from = max(o, so.Offset)
	}
	recs, err := c.read(ctx, name, int32(part), from, eo.Offset, limit)
	if err != nil {
		data["PageError"] = err.Error()
		c.renderStatus(w, http.StatusBadGateway, "records", data)
		return
	}
	shown := make([]shownRecord, 0, len(recs))
	var next int64 = -1
	for _, kr := range recs {
		s := shownRecord{Offset: kr.Offset, Timestamp: kr.Timestamp.UTC().Format("2006-01-02 15:04:05.000")}
		s.Key, _, _ = show(kr.Key)
		s.Value, s.JSON, s.Cut = show(kr.Value)
		for _, h := range kr.Headers {
			v, _, _ := show(h.Value)
			s.Headers = append(s.Headers, h.Key+"="+v)
		}
		shown = append(shown, s)
		next = kr.Offset + 1
	}
	data["Records"] = shown
	if next >= 0 {
		data["Next"] = "/topics/" + url.PathEscape(name) + "/records?partition=" + strconv.Itoa(int(part)) + "&offset=" + strconv.FormatInt(next, 10) + "&limit=" + strconv.Itoa(limit)
	}
	c.render(w, "records", data)
}

// read fetches up to limit records of one partition in [from, end), with
// a consumer of its own closed before it returns: nothing stays open
// between pages.
func (c *Console) read(ctx context.Context, topic string, part int32, from, end int64, limit int) ([]*kgo.Record, error) {
	if from >= end {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxPartitionBytes(4<<20),
		// Transaction markers count toward the end (a partition often
		// ends in one); they are not shown.
		kgo.KeepControlRecords())
	if err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < limit && ctx.Err() == nil {
		fs := cl.PollRecords(ctx, limit-len(out))
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil && ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return out, fmt.Errorf("read %s/%d: %w", topic, part, ferr)
		}
		recs := fs.Records()
		for _, rec := range recs {
			if !rec.Attrs.IsControl() {
				out = append(out, rec)
			}
		}
		if n := len(recs); n > 0 && recs[n-1].Offset+1 >= end {
			break // the end, as it was when the page asked
		}
	}
	return out[:min(len(out), limit)], nil
}

// produce writes the test record of the records page's form.
func (c *Console) produce(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	if c.producer == nil {
		c.renderStatus(w, http.StatusNotFound, "overview", map[string]any{"Title": "Error", "Error": "producing test records needs the cluster's addresses (Config.Seeds)"})
		return
	}
	name := r.PathValue("name")
	part, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("partition")), 10, 32)
	if err != nil || part < 0 {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": "partition: want a number from 0"})
		return
	}
	rec := &kgo.Record{Topic: name, Partition: int32(part), Value: []byte(r.PostFormValue("value"))}
	if k := r.PostFormValue("key"); k != "" {
		rec.Key = []byte(k)
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if err := c.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		c.renderStatus(w, http.StatusBadGateway, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("produce to %s/%d: %v", name, part, err)})
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/topics/%s/records?partition=%d&offset=%d", url.PathEscape(name), rec.Partition, rec.Offset), http.StatusSeeOther)
}
