package compat

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// /readyz answers 503 while a broker recovers a large log after SIGKILL
// (its checkpoints removed, so every segment is checked), and 200 once
// it serves; /healthz answers 200 throughout.
func TestReadyz_NotReadyUntilRecoveryFinished(t *testing.T) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("Fjord's own HTTP listener: kfake has none")
	}
	httpAddr := fjordtest.FreeAddr(t)
	p := startBroker(t, "http.listeners=http://"+httpAddr, "log.segment.bytes=16777216")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "big"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	value := []byte(strings.Repeat("r", 4096))
	for range 60_000 { // about 250 MB
		cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	p.Kill()
	checkpoints, _ := filepath.Glob(filepath.Join(p.DataDir(), "big-0", "log-checkpoint"))
	if len(checkpoints) == 0 {
		t.Fatalf("no log-checkpoint under %s", p.DataDir())
	}
	for _, f := range checkpoints {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}

	type answer struct {
		path string
		code int
	}
	var mu sync.Mutex
	var seen []answer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, path := range []string{"/readyz", "/healthz"} {
				resp, err := hc.Get("http://" + httpAddr + path)
				if err != nil {
					continue // not listening yet
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				seen = append(seen, answer{path, resp.StatusCode})
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	p.Restart(t) // returns once the broker serves
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		last := answer{}
		if n > 0 {
			last = seen[n-1]
		}
		mu.Unlock()
		if last.path == "/healthz" && n >= 2 {
			mu.Lock()
			ready := seen[n-2]
			mu.Unlock()
			if ready.code == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not answer 200 after the broker started serving")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	notReady, healthyBad := 0, 0
	for _, a := range seen {
		switch {
		case a.path == "/readyz" && a.code == http.StatusServiceUnavailable:
			notReady++
		case a.path == "/healthz" && a.code != 200:
			healthyBad++
		}
	}
	if notReady == 0 {
		t.Fatalf("/readyz never answered 503 during recovery (%d answers)", len(seen))
	}
	if healthyBad > 0 {
		t.Fatalf("/healthz failed %d times", healthyBad)
	}
	if !strings.Contains(p.Output(), "no checkpoint, checking every segment") {
		t.Fatal("the restart did not recover the log")
	}
	t.Logf("/readyz answered 503 %d times during recovery", notReady)
}
