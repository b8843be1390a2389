#!/usr/bin/env python3
"""Writes fjord-dashboard.json, the Grafana dashboard for Fjord's metrics.

Edit the panels here and run it again: the JSON is generated so that its
layout stays regular. The Go test in e2e/observability checks that every
fjord_* metric the dashboard names exists.
"""
import json
import os

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
RATE = "$__rate_interval"

# (title, [rows]); each row: (kind, title, [(expr, legend)], unit)
ROWS = [
    ("Cluster health", [
        ("stat", "Active controllers", [("sum(fjord_controller_active)", "")], "none"),
        ("stat", "Offline partitions", [("max(fjord_controller_offline_partitions)", "")], "none"),
        ("stat", "Under-replicated", [("sum(fjord_broker_under_replicated_partitions)", "")], "none"),
        ("stat", "Under min ISR", [("sum(fjord_broker_under_min_isr_partitions)", "")], "none"),
        ("stat", "Fenced brokers", [("max(fjord_controller_fenced_brokers)", "")], "none"),
        ("stat", "Partitions", [("max(fjord_controller_partitions)", "")], "none"),
    ]),
    ("Throughput", [
        ("timeseries", "Bytes in by topic", [(f"sum by (topic) (rate(fjord_topic_bytes_in_total[{RATE}]))", "{{topic}}")], "Bps"),
        ("timeseries", "Bytes out to consumers by topic", [(f"sum by (topic) (rate(fjord_topic_bytes_out_total[{RATE}]))", "{{topic}}")], "Bps"),
        ("timeseries", "Records in by topic", [(f"sum by (topic) (rate(fjord_topic_records_in_total[{RATE}]))", "{{topic}}")], "rps"),
        ("timeseries", "Records out to consumers by topic", [(f"sum by (topic) (rate(fjord_topic_records_out_total[{RATE}]))", "{{topic}}")], "rps"),
        ("timeseries", "Network by broker", [
            (f"rate(fjord_server_network_received_bytes_total[{RATE}])", "in {{instance}}"),
            (f"rate(fjord_server_network_sent_bytes_total[{RATE}])", "out {{instance}}")], "Bps"),
    ]),
    ("Requests", [
        ("timeseries", "Requests by API", [(f"sum by (api) (rate(fjord_server_requests_total[{RATE}]))", "{{api}}")], "reqps"),
        ("timeseries", "99th percentile latency by API", [
            (f"histogram_quantile(0.99, sum by (api, le) (rate(fjord_server_request_duration_seconds_bucket[{RATE}])))", "{{api}}")], "s"),
        ("timeseries", "Errors by API and code", [(f"sum by (api, error) (rate(fjord_server_request_errors_total[{RATE}]))", "{{api}} {{error}}")], "reqps"),
        ("timeseries", "Connections by broker", [("fjord_server_connections", "{{instance}}")], "none"),
        ("timeseries", "Requests in flight by broker", [("fjord_server_requests_in_flight", "{{instance}}")], "none"),
    ]),
    ("Consumer groups", [
        ("timeseries", "Lag by group", [("max by (group) (fjord_group_total_lag_records)", "{{group}}")], "none"),
        ("timeseries", "Offset commits", [(f"sum(rate(fjord_group_offset_commits_total[{RATE}]))", "commits")], "ops"),
        ("timeseries", "Members by group", [("max by (group) (fjord_group_members)", "{{group}}")], "none"),
        ("timeseries", "Groups by state", [("sum by (state) (fjord_group_coordinator_groups)", "{{state}}")], "none"),
        ("timeseries", "Rebalances", [(f"sum by (protocol) (rate(fjord_group_rebalances_total[{RATE}]))", "{{protocol}}")], "ops"),
    ]),
    ("Storage", [
        ("timeseries", "Disk used by log directory", [("fjord_log_dir_used_bytes / fjord_log_dir_total_bytes", "{{instance}} {{dir}}")], "percentunit"),
        ("timeseries", "Log bytes by broker", [("fjord_broker_log_size_bytes", "{{instance}}")], "bytes"),
        ("timeseries", "99th percentile fsync by broker", [
            (f"histogram_quantile(0.99, sum by (instance, le) (rate(fjord_log_fsync_duration_seconds_bucket[{RATE}])))", "{{instance}}")], "s"),
        ("timeseries", "Fsyncs by broker", [(f"rate(fjord_log_fsync_duration_seconds_count[{RATE}])", "{{instance}}")], "ops"),
        ("timeseries", "Log bytes written and read by broker", [
            (f"rate(fjord_log_written_bytes_total[{RATE}])", "written {{instance}}"),
            (f"rate(fjord_log_read_bytes_total[{RATE}])", "read {{instance}}")], "Bps"),
        ("timeseries", "Disk I/O by node", [
            (f"rate(fjord_node_disk_written_bytes_total[{RATE}])", "write {{instance}}"),
            (f"rate(fjord_node_disk_read_bytes_total[{RATE}])", "read {{instance}}")], "Bps"),
    ]),
    ("Replication and controller", [
        ("timeseries", "Largest follower lag by topic", [("max by (topic) (fjord_partition_follower_lag_records)", "{{topic}}")], "none"),
        ("timeseries", "Leaders by broker", [("fjord_broker_leader_partitions", "{{instance}}")], "none"),
        ("timeseries", "Metadata voter lag", [("fjord_controller_voter_lag_records", "voter {{voter}}")], "none"),
        ("timeseries", "Metadata applied offset by node", [("fjord_broker_metadata_applied_offset", "{{instance}}")], "none"),
        ("timeseries", "Leader elections", [(f"sum by (type) (increase(fjord_controller_leader_elections_total[{RATE}]))", "{{type}}")], "none"),
    ]),
    ("Connect", [
        ("timeseries", "Tasks by state", [("count by (state) (fjord_connect_task_state == 1)", "{{state}}")], "none"),
        ("timeseries", "Source records written by connector", [
            (f"sum by (connector) (rate(fjord_connect_source_records_written_total[{RATE}]))", "{{connector}}")], "rps"),
        ("timeseries", "Sink records put by connector", [
            (f"sum by (connector) (rate(fjord_connect_sink_records_put_total[{RATE}]))", "{{connector}}")], "rps"),
        ("timeseries", "99th percentile offset commit by connector", [
            (f"histogram_quantile(0.99, sum by (connector, le) (rate(fjord_connect_offset_commit_duration_seconds_bucket[{RATE}])))", "{{connector}}")], "s"),
        ("timeseries", "Record errors and dead letters", [
            (f"sum by (connector) (rate(fjord_connect_record_errors_total[{RATE}]))", "errors {{connector}}"),
            (f"sum by (connector) (rate(fjord_connect_dead_letter_records_total[{RATE}]))", "dead letters {{connector}}")], "rps"),
    ]),
    ("Process", [
        ("timeseries", "Resident memory", [("process_resident_memory_bytes", "{{instance}}")], "bytes"),
        ("timeseries", "CPU", [(f"rate(process_cpu_seconds_total[{RATE}])", "{{instance}}")], "percentunit"),
        ("timeseries", "Goroutines", [("go_goroutines", "{{instance}}")], "none"),
        ("timeseries", "Open files", [("process_open_fds", "{{instance}}")], "none"),
    ]),
]


def panel(pid, kind, title, targets, unit, x, y, w, h):
    p = {
        "id": pid, "type": kind, "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": e, "legendFormat": l}
                    for i, (e, l) in enumerate(targets)],
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "red", "value": 1}]}
        if title == "Active controllers":
            p["fieldConfig"]["defaults"]["thresholds"]["steps"] = [
                {"color": "red", "value": None}, {"color": "green", "value": 1}, {"color": "red", "value": 2}]
        if title == "Partitions":
            p["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "blue", "value": None}]
    return p


def dashboard():
    panels, pid, y = [], 1, 0
    for row_title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        pid, y = pid + 1, y + 1
        w = 24 // len(row)
        h = 4 if row[0][0] == "stat" else 8
        for i, (kind, title, targets, unit) in enumerate(row):
            panels.append(panel(pid, kind, title, targets, unit, i * w, y, w, h))
            pid += 1
        y += h
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "title": "Fjord", "uid": "fjord-overview", "tags": ["fjord", "kafka"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True,
        "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []}, "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fjord-dashboard.json")
    with open(out, "w") as f:
        json.dump(dashboard(), f, indent=2)
        f.write("\n")
