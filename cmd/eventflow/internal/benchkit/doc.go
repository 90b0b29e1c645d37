// Package benchkit holds what EventFlow's two end-to-end benchmarks share:
// internal/bench (`make bench`: `eventflow dev` against raw JetStream and
// direct calls) and internal/k8sbench (`make bench-k8s`: the four services
// on the Kubernetes runtime against bare client-go).
//
// Both start EventFlow as child processes that must never outlive the run,
// talk to the gateway over REST, scrape Prometheus /metrics, read CPU and
// memory from /proc, and print latency distributions in a Markdown table.
// Each of those jobs lives here once, in a file of its own, so a fix to
// (say) the process-group kill or the percentile reaches both benchmarks.
// What only one benchmark measures, and how it reports it, stays in its
// package.
//
// Nothing here starts anything on import, and its tests are pure: `go test
// ./...` stays fast.
package benchkit
