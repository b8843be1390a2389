package plugins

import "testing"

// Every built-in plugin registers without a clash, under Kafka's names.
func TestBuiltins(t *testing.T) {
	r, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"FileStreamSource", "org.apache.kafka.connect.file.FileStreamSinkConnector", "Datagen",
		"org.apache.kafka.connect.json.JsonConverter", "org.apache.kafka.connect.storage.StringConverter",
		"org.apache.kafka.connect.transforms.InsertField$Value", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"} {
		if _, ok := r.Lookup(name); !ok {
			t.Errorf("%s is not registered", name)
		}
	}
}
