// Package grafana holds EventFlow's Grafana dashboard (eventflow.json) and
// the test of its structure. That every metric it queries is exported is
// proved against a running `eventflow dev` by cmd/eventflow's
// TestDashboardMetricsExist. See deploy/README.md.
package grafana
