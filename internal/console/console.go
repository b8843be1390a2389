// Package console is Fjord's web console: server-rendered pages (no
// JavaScript build, no scripts at all so far) that show a cluster through
// the Kafka API alone, so they work against any Kafka-compatible cluster.
// This first part shows the cluster (brokers, controller, partition
// health), the topics (search, pages, partitions, configs, sizes) and the
// consumer groups (state, members, lag per partition); what is still to
// come is listed in docs/console.md.
//
// Invariants: every page is one bounded set of Kafka requests (each under
// a timeout); lists are paged so a page's size does not grow with the
// cluster; user input reaches pages only through html/template's
// escaping.
package console

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect/rest"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageSize is how many rows a list page shows.
const pageSize = 100

// requestTimeout bounds the Kafka requests behind one page.
const requestTimeout = 10 * time.Second

// Config is what a Console is built from.
type Config struct {
	// Client reaches the cluster; the console does not close it. A short
	// kgo.MetadataMinAge (fjord console uses 250 ms) lets a page show a
	// topic created or deleted a moment before.
	Client *kgo.Client
	// Seeds are the cluster's addresses, for the record browser's
	// readers and its producer of test records; empty turns both off.
	Seeds []string
	// ConnectURL is a Kafka Connect worker's REST API (Fjord's or
	// Kafka's), for the Connect pages; empty turns them off.
	ConnectURL string
	// SampleInterval is how often the console samples throughput and
	// lag for its charts (0: DefaultSampleInterval; negative: no
	// sampling, no charts over time).
	SampleInterval time.Duration
	// AllowedHosts are the names the console answers to (the Host
	// header, port left out), besides localhost, 127.0.0.1 and ::1: a
	// page of another site cannot rebind its own name to the console's
	// address and read it (DNS rebinding).
	AllowedHosts []string
	// MetricsURLs are the nodes' Prometheus endpoints (http.listeners;
	// host:port, or a URL without a path, is completed to /metrics/node),
	// for the per-broker figures and charts. Empty: MetricsPort at every
	// broker's host.
	MetricsURLs []string
	// MetricsPort, without MetricsURLs, is the port of every broker's
	// metrics (0: none, so no per-broker figures). Each node says which
	// it is (fjord_node_info), so a URL that reaches another node than
	// the broker's misattributes nothing.
	MetricsPort int
	// Logger receives failures of pages; nil discards.
	Logger *slog.Logger
}

// Console serves the pages. It is safe for concurrent use.
type Console struct {
	// token is the anti-forgery token every form carries: a page of
	// another origin cannot read it, so it cannot post a change.
	token      string
	adm        *kadm.Client
	seeds      []string
	producer   *kgo.Client  // test records, to the partition asked; nil without Seeds
	connect    *rest.Client // nil without ConnectURL
	connectURL string
	history    *history        // nil without sampling
	nodes      *nodeMetrics    // nil without sampling or metrics endpoints
	hosts      map[string]bool // Host names answered
	stop       context.CancelFunc
	samplers   sync.WaitGroup
	logger     *slog.Logger
	pages      map[string]*template.Template
	mux        *http.ServeMux
}

// New returns the console over cfg.Client.
func New(cfg Config) (*Console, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var secret [16]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("console: token: %w", err)
	}
	c := &Console{token: hex.EncodeToString(secret[:]), adm: kadm.NewClient(cfg.Client), logger: logger, seeds: cfg.Seeds,
		pages: map[string]*template.Template{}, mux: http.NewServeMux(), hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	for _, h := range cfg.AllowedHosts {
		c.hosts[strings.Trim(strings.ToLower(strings.TrimSpace(h)), "[]")] = true
	}
	if cfg.ConnectURL != "" {
		c.connectURL = strings.TrimRight(cfg.ConnectURL, "/")
		c.connect = rest.NewClient(c.connectURL, requestTimeout)
	}
	if len(cfg.Seeds) > 0 {
		p, err := kgo.NewClient(kgo.SeedBrokers(cfg.Seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return nil, fmt.Errorf("console: producer: %w", err)
		}
		c.producer = p
	}
	funcs := template.FuncMap{"bytes": humanBytes, "join": joinIDs, "add": func(a, b int) int { return a + b }, "path": url.PathEscape,
		"mul": func(a, b int) int { return a * b }}
	for _, name := range []string{"overview", "topics", "topic", "groups", "group", "records", "connect"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	c.mux.HandleFunc("GET /{$}", c.overview)
	c.mux.HandleFunc("GET /topics", c.topics)
	c.mux.HandleFunc("GET /topics/{name}", c.topic)
	c.mux.HandleFunc("POST /topics", c.createTopic)
	c.mux.HandleFunc("POST /topics/{name}/delete", c.deleteTopic)
	c.mux.HandleFunc("POST /topics/{name}/config", c.alterConfig)
	c.mux.HandleFunc("POST /groups/{name}/reset", c.resetOffsets)
	c.mux.HandleFunc("GET /topics/{name}/records", c.records)
	c.mux.HandleFunc("GET /connect", c.connectors)
	c.mux.HandleFunc("POST /connect", c.createConnector)
	c.mux.HandleFunc("POST /connect/{name}/{action}", c.connectAction)
	c.mux.HandleFunc("POST /topics/{name}/produce", c.produce)
	c.mux.HandleFunc("GET /groups", c.groups)
	c.mux.HandleFunc("GET /groups/{name}", c.group)
	c.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c.mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprint(w, style)
	})
	// Last: nothing can fail after it, so no error path leaks it.
	if cfg.SampleInterval >= 0 {
		interval := cfg.SampleInterval
		if interval == 0 {
			interval = DefaultSampleInterval
		}
		c.history = newHistory()
		ctx, stop := context.WithCancel(context.Background())
		c.stop = stop
		c.samplers.Add(1)
		go func() {
			defer c.samplers.Done()
			c.history.run(ctx, c.adm, interval, func(err error) { c.logger.Warn("console: sampling the cluster failed", "err", err) })
		}()
		if len(cfg.MetricsURLs) > 0 || cfg.MetricsPort > 0 {
			c.nodes = newNodeMetrics(cfg.MetricsURLs, cfg.MetricsPort, interval)
			c.samplers.Add(1)
			go func() {
				defer c.samplers.Done()
				c.nodes.run(ctx, c.adm, interval)
			}()
		}
	}
	return c, nil
}

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// checkForm parses a posted form and checks its token, and that a
// browser's Origin, when sent, is this console's; false: it answered.
func (c *Console) checkForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			http.Error(w, "a change must come from the console's own pages", http.StatusForbidden)
			return false
		}
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.token)) != 1 {
		http.Error(w, "a change must come from the console's own pages (the form's token is missing or stale: reload)", http.StatusForbidden)
		return false
	}
	return true
}

// createTopic creates a topic from the topics page's form, then shows it.
func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	parts, perr := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("partitions")), 10, 32)
	rf, rerr := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("replication")), 10, 16)
	ctx, cancel := c.ctx(r)
	defer cancel()
	var err error
	switch {
	case name == "":
		err = fmt.Errorf("a topic needs a name")
	case perr != nil || parts < 1:
		err = fmt.Errorf("partitions: want a number from 1")
	case rerr != nil || (rf < 1 && rf != -1):
		err = fmt.Errorf("replication factor: want a number from 1, or -1 for the broker's default")
	default:
		var resp kadm.CreateTopicResponse
		if resp, err = c.adm.CreateTopic(ctx, int32(parts), int16(rf), nil, name); err == nil {
			err = resp.Err
		}
	}
	if err != nil {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("create topic %q: %v", name, err)})
		return
	}
	http.Redirect(w, r, "/topics/"+url.PathEscape(name), http.StatusSeeOther)
}

// deleteTopic deletes the topic whose page's button was pressed.
func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	name := r.PathValue("name")
	ctx, cancel := c.ctx(r)
	defer cancel()
	resps, err := c.adm.DeleteTopics(ctx, name)
	if err == nil {
		err = resps[name].Err
	}
	if err != nil {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("delete topic %q: %v", name, err)})
		return
	}
	http.Redirect(w, r, "/topics", http.StatusSeeOther)
}

// Close stops the sampler and releases the console's own producer.
func (c *Console) Close() {
	if c.stop != nil {
		c.stop()
		c.samplers.Wait()
	}
	if c.nodes != nil {
		c.nodes.close()
	}
	if c.producer != nil {
		c.producer.Close()
	}
}

// alterConfig sets (or, with an empty value, removes) one of a topic's
// configs, as kafka-configs.sh --alter does (IncrementalAlterConfigs).
func (c *Console) alterConfig(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	name := r.PathValue("name")
	key, value := strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("value"))
	if key == "" {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": "a config needs a key"})
		return
	}
	op := kadm.AlterConfig{Name: key, Value: &value}
	if value == "" {
		op = kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key}
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resps, err := c.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{op}, name)
	if err == nil && len(resps) == 1 {
		err = resps[0].Err
	}
	if err != nil {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("set %s on %q: %v", key, name, err)})
		return
	}
	http.Redirect(w, r, "/topics/"+url.PathEscape(name), http.StatusSeeOther)
}

// resetOffsets moves an inactive group's committed offsets to the start
// or the end of every partition it has committed, as
// kafka-consumer-groups.sh --reset-offsets --to-earliest/--to-latest
// --execute does. The broker refuses it while the group has members.
func (c *Console) resetOffsets(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	name := r.PathValue("name")
	to := r.PostFormValue("to")
	ctx, cancel := c.ctx(r)
	defer cancel()
	fail := func(err error) {
		c.renderStatus(w, http.StatusBadRequest, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("reset %q to %s: %v", name, to, err)})
	}
	if to != "earliest" && to != "latest" {
		fail(fmt.Errorf("want earliest or latest"))
		return
	}
	// Only an inactive group, as kafka-consumer-groups.sh demands: the
	// buttons are hidden otherwise, and the state is checked here too.
	described, err := c.adm.DescribeGroups(ctx, name)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		fail(err)
		return
	}
	if st := described[name].State; st != "Empty" {
		fail(fmt.Errorf("the group is %s: only a group without members (Empty) can be reset", st))
		return
	}
	committed, err := c.adm.FetchOffsets(ctx, name)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		fail(err)
		return
	}
	set := committed.Offsets().TopicsSet()
	topics := set.Topics()
	if len(topics) == 0 {
		fail(fmt.Errorf("the group has committed no offsets: nothing to reset"))
		return
	}
	var listed kadm.ListedOffsets
	if to == "earliest" {
		listed, err = c.adm.ListStartOffsets(ctx, topics...)
	} else {
		listed, err = c.adm.ListEndOffsets(ctx, topics...)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		fail(err)
		return
	}
	// Only the partitions the group committed, as Kafka's tool resets.
	reset := kadm.Offsets{}
	listed.Each(func(o kadm.ListedOffset) {
		if _, ok := set[o.Topic][o.Partition]; ok {
			reset.AddOffset(o.Topic, o.Partition, o.Offset, -1)
		}
	})
	resp, err := c.adm.CommitOffsets(ctx, name, reset)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, "/groups/"+url.PathEscape(name), http.StatusSeeOther)
}

// refresh is a page's ?refresh=SECONDS (2 to 300), for live charts: the
// browser reloads the page (a meta refresh; the console runs no script).
// 0: none.
func refresh(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("refresh"))
	if err != nil || n <= 0 {
		return 0
	}
	return min(max(n, 2), 300)
}

// chart draws the cluster's rate or a group's lag over time; nil
// without sampling.
func (c *Console) chart(rate bool, group string) *lineChart {
	if c.history == nil {
		return nil
	}
	ch := drawLine(c.history.snapshot(rate, group), 600, 120)
	return &ch
}

// ServeHTTP serves the pages to requests for an allowed host, never
// inside another site's frame.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !c.hosts[strings.Trim(strings.ToLower(host), "[]")] {
		http.Error(w, "the console does not answer to host "+host+" (add it to the allowed hosts: fjord console --allowed-host)", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	c.mux.ServeHTTP(w, r)
}

// render writes page name with data, with status 200.
func (c *Console) render(w http.ResponseWriter, name string, data map[string]any) {
	c.renderStatus(w, http.StatusOK, name, data)
}

// renderStatus writes page name with data and status.
func (c *Console) renderStatus(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
	w.WriteHeader(status)
	if err := c.pages[name].Execute(w, data); err != nil {
		c.logger.Warn("console: rendering a page failed", "page", name, "err", err)
	}
}

// fail answers a page whose Kafka requests failed.
func (c *Console) fail(w http.ResponseWriter, what string, err error) {
	c.logger.Warn("console: "+what, "err", err)
	c.renderStatus(w, http.StatusBadGateway, "overview", map[string]any{"Title": "Error", "Error": fmt.Sprintf("%s: %v", what, err)})
}

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), requestTimeout)
}

// partitionHealth counts a topic's partitions by health, with Kafka's
// definitions (kafka-topics.sh's filters).
type partitionHealth struct {
	Partitions, UnderReplicated, Offline int
}

func healthOf(td kadm.TopicDetail, live map[int32]bool) partitionHealth {
	var h partitionHealth
	for _, p := range td.Partitions {
		h.Partitions++
		if p.Leader < 0 || !live[p.Leader] {
			h.Offline++
		}
		if len(p.ISR) < len(p.Replicas) {
			h.UnderReplicated++
		}
	}
	return h
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	m, err := c.adm.Metadata(ctx)
	if err != nil {
		c.fail(w, "cluster metadata", err)
		return
	}
	live := map[int32]bool{}
	for _, b := range m.Brokers {
		live[b.NodeID] = true
	}
	var total partitionHealth
	topics := 0
	for _, td := range m.Topics {
		if td.Err != nil {
			continue
		}
		topics++
		h := healthOf(td, live)
		total.Partitions += h.Partitions
		total.UnderReplicated += h.UnderReplicated
		total.Offline += h.Offline
	}
	groups, gerr := c.adm.ListGroups(ctx)
	brokers := slices.Clone(m.Brokers)
	slices.SortFunc(brokers, func(a, b kadm.BrokerDetail) int { return cmp.Compare(a.NodeID, b.NodeID) })
	data := map[string]any{"Title": "Cluster", "Cluster": m.Cluster, "Controller": m.Controller,
		"Brokers": brokers, "Topics": topics, "Health": total, "Groups": len(groups), "GroupsErr": gerr,
		"Healthy": total.UnderReplicated == 0 && total.Offline == 0, "Rate": c.chart(true, ""), "Refresh": refresh(r)}
	if c.nodes != nil {
		c.nodeCharts(data, brokers)
	}
	c.render(w, "overview", data)
}

// topicRow is a line of the topics list.
type topicRow struct {
	Name     string
	Internal bool
	RF       int
	Health   partitionHealth
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	m, err := c.adm.Metadata(ctx)
	if err != nil {
		c.fail(w, "topic metadata", err)
		return
	}
	live := map[int32]bool{}
	for _, b := range m.Brokers {
		live[b.NodeID] = true
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var rows []topicRow
	for _, td := range m.Topics.Sorted() {
		if td.Err != nil || (q != "" && !strings.Contains(td.Topic, q)) {
			continue
		}
		rf := 0
		if len(td.Partitions) > 0 {
			rf = len(td.Partitions[0].Replicas)
		}
		rows = append(rows, topicRow{Name: td.Topic, Internal: td.IsInternal, RF: rf, Health: healthOf(td, live)})
	}
	page, pages, rows := paginate(r, rows)
	c.render(w, "topics", map[string]any{"Title": "Topics", "Query": q, "Rows": rows, "Page": page, "Pages": pages, "Count": len(m.Topics), "Token": c.token})
}

// partitionRow is a line of a topic's partitions.
type partitionRow struct {
	Partition           int32
	Leader, LeaderEpoch int32
	Replicas, ISR       []int32
	UnderReplicated     bool
	Start, End, Size    int64
	Offline             bool
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := c.ctx(r)
	defer cancel()
	m, err := c.adm.Metadata(ctx, name)
	if err != nil {
		c.fail(w, "topic metadata", err)
		return
	}
	td, ok := m.Topics[name]
	if !ok || td.Err != nil {
		c.renderStatus(w, http.StatusNotFound, "topic", map[string]any{"Title": name, "Name": name, "Missing": true})
		return
	}
	live := map[int32]bool{}
	for _, b := range m.Brokers {
		live[b.NodeID] = true
	}
	starts, _ := c.adm.ListStartOffsets(ctx, name)
	ends, _ := c.adm.ListEndOffsets(ctx, name)
	sizes := map[int32]int64{}
	parts := map[int32]struct{}{}
	for p := range td.Partitions {
		parts[p] = struct{}{}
	}
	if dirs, err := c.adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{name: parts}); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == name {
					sizes[p.Partition] = max(sizes[p.Partition], p.Size) // the largest replica
				}
			})
		})
	}
	var rows []partitionRow
	for _, p := range td.Partitions.Sorted() {
		row := partitionRow{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
			UnderReplicated: len(p.ISR) < len(p.Replicas), Offline: p.Leader < 0 || !live[p.Leader], Size: sizes[p.Partition], Start: -1, End: -1}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			row.Start = o.Offset
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			row.End = o.Offset
		}
		rows = append(rows, row)
	}
	var configs []kadm.Config
	if rcs, err := c.adm.DescribeTopicConfigs(ctx, name); err == nil && len(rcs) == 1 {
		for _, cfg := range rcs[0].Configs {
			if cfg.Source == 1 { // DYNAMIC_TOPIC_CONFIG: the topic's own settings
				configs = append(configs, cfg)
			}
		}
	}
	c.render(w, "topic", map[string]any{"Title": name, "Name": name, "ID": td.ID.String(), "Rows": rows, "Configs": configs,
		"Health": healthOf(td, live), "Token": c.token, "Internal": td.IsInternal})
}

// groupRow is a line of the groups list.
type groupRow struct {
	Name, State, Protocol string
	Lag                   int64
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	// The page's groups first, then the lag of those only: a page's
	// work does not grow with the number of groups.
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		c.fail(w, "list groups", err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var names []string
	for _, g := range listed.Sorted() {
		if q == "" || strings.Contains(g.Group, q) {
			names = append(names, g.Group)
		}
	}
	page, pages, names := paginate(r, names)
	rows := make([]groupRow, 0, len(names))
	if len(names) > 0 {
		lags, err := c.adm.Lag(ctx, names...)
		if err != nil {
			c.fail(w, "group lag", err)
			return
		}
		for _, name := range names {
			l := lags[name]
			row := groupRow{Name: name, State: l.State, Protocol: l.ProtocolType, Lag: -1}
			if l.Error() == nil {
				row.Lag = l.Lag.Total()
			}
			rows = append(rows, row)
		}
	}
	c.render(w, "groups", map[string]any{"Title": "Consumer groups", "Query": q, "Rows": rows, "Page": page, "Pages": pages})
}

// lagRow is a line of a group's lag.
type lagRow struct {
	Topic                  string
	Partition              int32
	Committed, End, Lag    int64
	Member, ClientID, Host string
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := c.ctx(r)
	defer cancel()
	lags, err := c.adm.Lag(ctx, name)
	if err != nil {
		c.fail(w, "group lag", err)
		return
	}
	l, ok := lags[name]
	// An unknown group is described as Dead (Kafka's and Fjord's answer),
	// and so is a KIP-848 consumer group to the classic DescribeGroups:
	// ListGroups tells them apart.
	if !ok || l.State == "Dead" || l.State == "" || errors.Is(l.DescribeErr, kerr.GroupIDNotFound) {
		listed, lerr := c.adm.ListGroups(ctx)
		g, exists := listed[name]
		if lerr != nil || !exists {
			c.renderStatus(w, http.StatusNotFound, "group", map[string]any{"Title": name, "Name": name, "Missing": true})
			return
		}
		l.State = g.State
	}
	var rows []lagRow
	for _, t := range slices.Sorted(maps.Keys(l.Lag)) {
		ps := l.Lag[t]
		for _, p := range slices.Sorted(maps.Keys(ps)) {
			ml := ps[p]
			row := lagRow{Topic: t, Partition: p, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
			if ml.Member != nil {
				row.Member, row.ClientID, row.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
			}
			rows = append(rows, row)
		}
	}
	var total int64
	if l.Error() == nil {
		total = l.Lag.Total()
	}
	c.render(w, "group", map[string]any{"Title": name, "Name": name, "State": l.State, "Protocol": l.Protocol, "Members": len(l.Members),
		"Rows": rows, "Total": total, "Chart": lagChart(rows), "Token": c.token, "LagOverTime": c.chart(false, name), "Refresh": refresh(r)})
}

// paginate keeps the page of rows ?page= asks for (1-based).
func paginate[T any](r *http.Request, rows []T) (page, pages int, out []T) {
	pages = max((len(rows)+pageSize-1)/pageSize, 1)
	page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	page = min(max(page, 1), pages)
	lo := (page - 1) * pageSize
	return page, pages, rows[min(lo, len(rows)):min(lo+pageSize, len(rows))]
}

func humanBytes(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// maxChartBars bounds the lag chart: the partitions with the most lag.
const maxChartBars = 50

// chartBar is one bar of the lag chart, laid out in SVG units.
type chartBar struct {
	Label       string
	Lag         int64
	Y, W, TextX int
}

// lagChart lays out a horizontal bar chart of the lag per partition
// (largest first, at most maxChartBars), drawn as SVG by the template:
// no script, no chart library.
func lagChart(rows []lagRow) []chartBar {
	bars := slices.Clone(rows)
	slices.SortStableFunc(bars, func(a, b lagRow) int { return cmp.Compare(b.Lag, a.Lag) })
	bars = bars[:min(len(bars), maxChartBars)]
	var most int64 = 1
	for _, r := range bars {
		most = max(most, r.Lag)
	}
	const width = 600
	out := make([]chartBar, 0, len(bars))
	for i, r := range bars {
		w := int(max(r.Lag, 0) * width / most)
		out = append(out, chartBar{Label: fmt.Sprintf("%s/%d", r.Topic, r.Partition), Lag: max(r.Lag, 0), Y: i * 22, W: w, TextX: 170 + w + 6})
	}
	return out
}
