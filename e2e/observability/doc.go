// Package observability checks what operators watch Fjord with: the alert
// rules and Grafana dashboard under deploy/ (promtool's checks, and every
// metric they name exists on a real node), and a real Prometheus server
// scraping a three-node cluster whose alert fires when a broker stops.
// The tests need Debian's prometheus package (promtool, prometheus); they
// skip loudly without it, and fail under FJORD_REQUIRE_CLIENTS=1 (CI).
package observability
