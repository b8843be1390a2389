package storage

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The config topic's records come from whoever can write the topic: any
// key and value is applied without panicking, and the snapshot stays
// consistent (a connector pending fencing has committed tasks; task
// counts are not negative). ParseOffsetKey takes any offset key.
func FuzzConfigRecord(f *testing.F) {
	f.Add([]byte("connector-c"), []byte(`{"properties":{"connector.class":"X"}}`))
	f.Add([]byte("task-c-0"), []byte(`{"properties":{"a":"b"}}`))
	f.Add([]byte("commit-c"), []byte(`{"tasks":1}`))
	f.Add([]byte("tasks-fencing-c"), []byte(`{"task-count":3}`))
	f.Add([]byte("tasks-fencing-c"), []byte(`{"task-count":-1}`))
	f.Add([]byte("target-state-c"), []byte(`{"state":"PAUSED","state.v2":"STOPPED"}`))
	f.Add([]byte("restart-connector-c"), []byte(`{"include-tasks":true}`))
	f.Add([]byte(`["c",{"file":"x"}]`), []byte(`{"position":1}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := newConfigState(nil, nil)
		// A task record and its commit first, so the fuzzed record
		// meets a connector with state.
		s.apply(&kgo.Record{Key: []byte("connector-c"), Value: []byte(`{"properties":{}}`)})
		s.apply(&kgo.Record{Key: []byte("task-c-0"), Value: []byte(`{"properties":{}}`), Offset: 1})
		s.apply(&kgo.Record{Key: []byte("commit-c"), Value: []byte(`{"tasks":1}`), Offset: 2})
		s.apply(&kgo.Record{Key: key, Value: value, Offset: 3})
		snap := s.Snapshot()
		for name := range snap.PendingFencing {
			if _, ok := snap.Tasks[name]; !ok {
				t.Fatalf("%s pends fencing without committed tasks", name)
			}
		}
		for name, n := range snap.TaskCountRecords {
			if n < 0 {
				t.Fatalf("%s: task count %d", name, n)
			}
		}
		_, _, _ = ParseOffsetKey(key)
	})
}
