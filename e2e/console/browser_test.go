package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	fconsole "github.com/fjordstream/fjord/internal/console"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// screenshotsEnv names a folder where the test writes each page's
// screenshot.
const screenshotsEnv = "FJORD_CONSOLE_SCREENSHOTS"

func TestConsole_InABrowser(t *testing.T) {
	chromium := fjordtest.RequireTool(t, "chromium")
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("http.listeners", "http://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		v := fmt.Sprintf(`{"order":%d,"item":"widget","qty":%d}`, i, i%3+1)
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Key: []byte(fmt.Sprint(i)), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 1, -1) // partition 0 holds 5 records: lag 4
	offs.AddOffset("orders", 1, 3, -1) // partition 1 holds 5: lag 2
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	c, err := fconsole.New(fconsole.Config{Client: cl, Seeds: []string{n.Addr()}, SampleInterval: 200 * time.Millisecond,
		MetricsURLs: []string{n.HTTPAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	// Traffic across a few samples (to a topic of its own), so the
	// overview's charts by broker have lines to draw.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "ticks"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ticks", Value: []byte(`{"tick":true}`)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(page), `<polyline class="s0"`) && strings.Contains(string(page), " ms</td>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the overview drew no chart by broker:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond)
	}

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console.error")
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log: %s (%s)", e.Entry.Text, e.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv(screenshotsEnv)
	for _, p := range []struct{ path, name, want string }{
		{"/", "overview", "Produce latency, 99th percentile"},
		{"/topics", "topics", "orders"},
		{"/topics/orders", "topic", "Partitions"},
		{"/topics/orders/records?partition=0", "records", "widget"},
		{"/groups", "groups", "billing"},
		{"/groups/billing", "group", "Lag by partition"},
	} {
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible("main")); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		body, err := chromedp.Run(bctx, chromedp.Text("main"))
		if err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		if !strings.Contains(body, p.want) {
			t.Errorf("%s: no %q on the page:\n%s", p.path, p.want, body)
		}
		if shots != "" {
			shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(shots, "console-"+p.name+".png"), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The lag chart shows each partition's lag, the largest first.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/groups/billing"), chromedp.WaitVisible("main")); err != nil {
		t.Fatal(err)
	}
	lags, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg.chart text.value")).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lags, ",") != "4,2,0" {
		t.Errorf("lag chart values %v, want 4,2,0 (partitions 0, 1, 2)", lags)
	}
	// A topic created through the form exists in the cluster.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/topics"), chromedp.WaitVisible("main"),
		chromedp.Click("details summary"),
		chromedp.SendKeys(`form.create input[name="name"]`, "from-the-browser"),
		chromedp.SetValue(`form.create input[name="partitions"]`, "2"),
		chromedp.Click(`form.create button`),
		chromedp.WaitVisible("button.danger")); err != nil { // the new topic's page
		t.Fatal(err)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/topics/from-the-browser") {
		t.Errorf("after the form: at %s", loc)
	}
	m, err := adm.Metadata(ctx, "from-the-browser")
	if err != nil {
		t.Fatal(err)
	}
	if td := m.Topics["from-the-browser"]; td.Err != nil || len(td.Partitions) != 2 {
		t.Errorf("the topic made in the browser: %v, %d partitions", td.Err, len(td.Partitions))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the browser reported: %s", strings.Join(problems, "; "))
	}
}
