package runtime

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fjordstream/fjord/internal/connect"
)

// stateScrapeTimeout bounds the herder calls one scrape makes.
const stateScrapeTimeout = 5 * time.Second

var (
	descConnectorState = prometheus.NewDesc("fjord_connect_connector_state", "1 for a connector's current state (RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING) (Kafka: connector-metrics status).", []string{"connector", "state"}, nil)
	descTaskState      = prometheus.NewDesc("fjord_connect_task_state", "1 for a task's current state (Kafka: connector-task-metrics status).", []string{"connector", "task", "state", "worker_id"}, nil)
	descConnectors     = prometheus.NewDesc("fjord_connect_connectors", "Connectors in the Connect cluster (Kafka: connect-worker-metrics connector-count).", nil, nil)
)

// StatesCollector reports every connector's and task's state, as the
// herder knows them, when Prometheus scrapes: the same answers as GET
// /connectors/{name}/status.
type StatesCollector struct{ Herder connect.Herder }

// Describe sends the descriptors.
func (c StatesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnectorState
	ch <- descTaskState
	ch <- descConnectors
}

// Collect asks the herder.
func (c StatesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), stateScrapeTimeout)
	defer cancel()
	names, err := c.Herder.Connectors(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descConnectors, prometheus.GaugeValue, float64(len(names)))
	for _, name := range names {
		st, err := c.Herder.ConnectorStatus(ctx, name)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descConnectorState, prometheus.GaugeValue, 1, name, string(st.Connector.State))
		for _, t := range st.Tasks {
			ch <- prometheus.MustNewConstMetric(descTaskState, prometheus.GaugeValue, 1, name, strconv.Itoa(t.ID), string(t.State), t.WorkerID)
		}
	}
}
