package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// fakeCtx is the runtime's side of a source task: committed offsets by
// partition.
type fakeCtx struct {
	mu      sync.Mutex
	offsets map[string]map[string]any
}

func (c *fakeCtx) Config() map[string]string { return nil }

func (c *fakeCtx) Offset(p map[string]any) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsets[fmt.Sprint(p)], nil
}

// commit stores r's offset as an offset store would: through JSON, so
// numbers come back as float64.
func (c *fakeCtx) commit(t *testing.T, r connect.SourceRecord) {
	b, err := json.Marshal(r.SourceOffset)
	if err != nil {
		t.Fatal(err)
	}
	var off map[string]any
	if err := json.Unmarshal(b, &off); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offsets == nil {
		c.offsets = map[string]map[string]any{}
	}
	c.offsets[fmt.Sprint(r.SourcePartition)] = off
}

func props(kv ...string) map[string]string {
	p := map[string]string{KeyTopic: "t", KeyQuickstart: QuickstartUsers, KeyMaxInterval: "0"}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func startTask(t testing.TB, ctx connect.SourceTaskContext, p map[string]string) *Task {
	t.Helper()
	task := NewTask()
	task.idle = 10 * time.Millisecond
	if err := task.Start(ctx, p); err != nil {
		t.Fatal(err)
	}
	return task
}

func pollAll(t *testing.T, task *Task, want int) []connect.SourceRecord {
	t.Helper()
	var out []connect.SourceRecord
	for len(out) < want {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if recs == nil {
			t.Fatalf("no records after %d, want %d", len(out), want)
		}
		out = append(out, recs...)
	}
	return out
}

// show renders a record's key and value for comparisons.
func show(r connect.SourceRecord) string {
	var val func(v any) string
	val = func(v any) string {
		if s, ok := v.(*connect.Struct); ok {
			out := "{"
			for i, f := range s.Schema.Fields {
				out += fmt.Sprintf("%s=%s ", f.Name, val(s.Values[i]))
			}
			return out + "}"
		}
		return fmt.Sprintf("%T(%v)", v, v)
	}
	return fmt.Sprintf("%v %s", r.Key, val(r.Value))
}

func shows(recs []connect.SourceRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = show(r)
	}
	return out
}

func TestDatagen_DeterministicWithSeed(t *testing.T) {
	for _, q := range Quickstarts() {
		a := shows(pollAll(t, startTask(t, nil, props(KeyQuickstart, q, KeyRandomSeed, "42")), 50))
		b := shows(pollAll(t, startTask(t, nil, props(KeyQuickstart, q, KeyRandomSeed, "42")), 50))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: the same seed gave different records:\n%v\n%v", q, a[:3], b[:3])
		}
		c := shows(pollAll(t, startTask(t, nil, props(KeyQuickstart, q, KeyRandomSeed, "43")), 50))
		d := shows(pollAll(t, startTask(t, nil, props(KeyQuickstart, q, KeyRandomSeed, "42", TaskID, "1")), 50))
		if reflect.DeepEqual(a, c) || reflect.DeepEqual(a, d) {
			t.Fatalf("%s: another seed or task id gave the same records", q)
		}
	}
}

func TestDatagen_QuickstartsFollowTheirSchemas(t *testing.T) {
	userid := regexp.MustCompile(`^User_[1-9]?$`)
	for q, c := range map[string]struct {
		name, key string
		fields    []string
		check     func(*connect.Struct) bool
	}{
		QuickstartUsers: {"ksql.users", "userid", []string{"registertime", "userid", "regionid", "gender"}, func(s *connect.Struct) bool {
			rt := s.Get("registertime").(int64)
			return rt >= 1487715775521 && rt < 1519273364600 && userid.MatchString(s.Get("userid").(string)) &&
				regexp.MustCompile(`^Region_[1-9]?$`).MatchString(s.Get("regionid").(string)) &&
				regexp.MustCompile(`^(MALE|FEMALE|OTHER)$`).MatchString(s.Get("gender").(string))
		}},
		QuickstartPageviews: {"ksql.pageviews", "viewtime", []string{"viewtime", "userid", "pageid"}, func(s *connect.Struct) bool {
			return s.Get("viewtime").(int64)%10 == 1 && userid.MatchString(s.Get("userid").(string)) &&
				regexp.MustCompile(`^Page_[1-9][0-9]?$`).MatchString(s.Get("pageid").(string))
		}},
		QuickstartOrders: {"ksql.orders", "orderid", []string{"ordertime", "orderid", "itemid", "orderunits", "address"}, func(s *connect.Struct) bool {
			u := s.Get("orderunits").(float64)
			a := s.Get("address").(*connect.Struct)
			z := a.Get("zipcode").(int64)
			return u >= 0.1 && u < 10 && z >= 10000 && z < 99999 && a.Schema.Name == "ksql.address" &&
				regexp.MustCompile(`^BYOC_Item_[1-9][0-9]{0,2}$`).MatchString(s.Get("itemid").(string)) &&
				regexp.MustCompile(`^City_[1-9]{0,2}$`).MatchString(a.Get("city").(string))
		}},
		QuickstartStockTrades: {"ksql.StockTrade", "symbol", []string{"side", "quantity", "symbol", "price", "account", "userid"}, func(s *connect.Struct) bool {
			qty, price := s.Get("quantity").(int32), s.Get("price").(int32)
			return qty >= 1 && qty < 5000 && price >= 5 && price < 1000 && userid.MatchString(s.Get("userid").(string))
		}},
	} {
		recs := pollAll(t, startTask(t, nil, props(KeyQuickstart, q, KeyRandomSeed, "7")), 500)
		for i, r := range recs {
			s := r.Value.(*connect.Struct)
			if err := connect.Validate(r.ValueSchema, s); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if r.ValueSchema.Name != c.name || len(r.ValueSchema.Fields) != len(c.fields) {
				t.Fatalf("%s: schema %+v", q, r.ValueSchema)
			}
			for j, f := range c.fields {
				if r.ValueSchema.Fields[j].Name != f {
					t.Fatalf("%s: field %d is %s, want %s", q, j, r.ValueSchema.Fields[j].Name, f)
				}
			}
			if r.KeySchema != connect.StringSchema || r.Key != keyString(s.Get(c.key)) {
				t.Fatalf("%s: key %v for %s=%v", q, r.Key, c.key, s.Get(c.key))
			}
			if !c.check(s) {
				t.Fatalf("%s: record %d out of its schema's ranges: %s", q, i, show(r))
			}
			if q == QuickstartOrders && s.Get("orderid").(int32) != int32(i) {
				t.Fatalf("orderid %v at iteration %d", s.Get("orderid"), i)
			}
		}
	}
}

func TestDatagen_IterationsSplitAcrossTasks(t *testing.T) {
	c := &Connector{}
	if err := c.Start(nil, props(KeyIterations, "10", KeyRandomSeed, "1")); err != nil {
		t.Fatal(err)
	}
	cfgs, err := c.TaskConfigs(3)
	if err != nil || len(cfgs) != 3 {
		t.Fatalf("%d configs, %v", len(cfgs), err)
	}
	total := 0
	for i, cfg := range cfgs {
		if cfg[TaskID] != strconv.Itoa(i) {
			t.Fatalf("config %d has task.id %q", i, cfg[TaskID])
		}
		share, _ := strconv.Atoi(cfg[KeyIterations])
		if want := []int{4, 3, 3}[i]; share != want {
			t.Fatalf("task %d: share %d, want %d", i, share, want)
		}
		task := startTask(t, nil, cfg)
		recs := pollAll(t, task, share)
		if len(recs) != share {
			t.Fatalf("task %d generated %d, want %d", i, len(recs), share)
		}
		if more, _ := task.Poll(context.Background()); more != nil {
			t.Fatalf("task %d went past its share", i)
		}
		total += len(recs)
	}
	if total != 10 {
		t.Fatalf("%d records in all, want 10", total)
	}
	c.Start(nil, props(KeyIterations, "2"))
	if cfgs, _ := c.TaskConfigs(5); len(cfgs) != 2 {
		t.Fatalf("%d tasks for 2 iterations", len(cfgs))
	}
	c.Start(nil, props())
	if cfgs, _ := c.TaskConfigs(4); len(cfgs) != 4 || cfgs[3][KeyIterations] != "" {
		t.Fatalf("unlimited: %v", cfgs)
	}
}

func TestDatagen_RestartContinuesFromTheOffset(t *testing.T) {
	p := props(KeyQuickstart, QuickstartOrders, KeyIterations, "10", KeyRandomSeed, "99")
	all := pollAll(t, startTask(t, nil, p), 10)

	ctx := &fakeCtx{}
	first := startTask(t, ctx, p)
	recs := pollAll(t, first, 10)
	ctx.commit(t, recs[3]) // four records reached Kafka before the crash
	first.Stop()

	second := startTask(t, ctx, p)
	rest := pollAll(t, second, 6)
	if !reflect.DeepEqual(shows(rest), shows(all[4:])) {
		t.Fatalf("after the restart:\n%v\nwant\n%v", shows(rest)[:2], shows(all[4:])[:2])
	}
	if more, _ := second.Poll(context.Background()); more != nil {
		t.Fatal("the restarted task went past iterations")
	}
	r := rest[0]
	if r.SourceOffset[FieldTaskGeneration] != int64(2) || r.SourceOffset[FieldCurrentIteration] != int64(5) {
		t.Fatalf("offset %v", r.SourceOffset)
	}
	if h, _ := r.Header(FieldCurrentIteration); h.Value != int64(4) {
		t.Fatalf("current.iteration header %v", h.Value)
	}
	if h, _ := r.Header(FieldTaskGeneration); h.Value != int64(1) {
		t.Fatalf("task.generation header %v", h.Value)
	}
	if !reflect.DeepEqual(r.SourcePartition, map[string]any{TaskID: int64(0)}) {
		t.Fatalf("partition %v", r.SourcePartition)
	}
}

func TestDatagen_StopUnblocksAWaitingPoll(t *testing.T) {
	task := startTask(t, nil, props(KeyMaxInterval, "3600000", KeyRandomSeed, "5"))
	done := make(chan struct{})
	go func() { task.Poll(context.Background()); close(done) }()
	time.Sleep(20 * time.Millisecond)
	task.Stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not unblock Poll")
	}
	if recs, _ := task.Poll(context.Background()); recs != nil {
		t.Fatal("records after Stop")
	}
}

func TestDatagen_ConfigChecks(t *testing.T) {
	c := &Connector{}
	for name, p := range map[string]map[string]string{
		"no quickstart":      {KeyTopic: "t"},
		"schema.filename":    props(KeySchemaFilename, "/x.avsc"),
		"unknown quickstart": props(KeyQuickstart, "clickstream"),
		"unknown key field":  props(KeySchemaKeyfield, "nope"),
		"struct key field":   props(KeyQuickstart, QuickstartOrders, KeySchemaKeyfield, "address"),
		"no topic":           {KeyQuickstart: QuickstartUsers},
	} {
		if err := c.Start(nil, p); err == nil {
			t.Errorf("%s: started", name)
		}
		if connect.ErrorCount(c.Config().Validate(p))+connect.ErrorCount(c.Validate(p)) == 0 {
			t.Errorf("%s: validated", name)
		}
	}
	// Both problems show in one validation: the missing topic (the
	// ConfigDef's) and the missing quickstart (the connector's).
	empty := map[string]string{}
	if connect.ErrorCount(c.Config().Validate(empty)) != 1 || connect.ErrorCount(c.Validate(empty)) != 1 {
		t.Errorf("validation of an empty config: %+v %+v", c.Config().Validate(empty), c.Validate(empty))
	}
	if err := c.Start(nil, props(KeyQuickstart, "Stock_Trades", KeySchemaKeyfield, "userid")); err != nil {
		t.Errorf("a quickstart in another case and a chosen key field: %v", err)
	}
}

func TestRegister_ClassAndAliases(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Class, "DatagenConnector", "Datagen"} {
		if _, typ, err := r.NewConnector(name); err != nil || typ != connect.SourceType {
			t.Errorf("%s: %v %v", name, typ, err)
		}
	}
}

// BenchmarkDatagenPoll measures generation alone (no converter, no
// producer): ns/op and allocs/op are per record.
func BenchmarkDatagenPoll(b *testing.B) {
	for _, q := range Quickstarts() {
		b.Run(q, func(b *testing.B) {
			task := startTask(b, nil, props(KeyQuickstart, q, KeyRandomSeed, "1"))
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				recs, err := task.Poll(ctx)
				if err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
