package benchkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is one scrape of a Prometheus text /metrics endpoint: series
// (`name{labels}` as exposed) → value. The benchmarks read the services'
// own counters and histograms over an interval, as two scrapes, to split
// a latency into its parts and to count work (reconciles) they cannot see
// from outside; a parser of a few lines does for that, with no dependency.
type Metrics map[string]float64

// ParseMetrics reads the text exposition format, skipping comments and
// lines it cannot read.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			m[l[:i]] = v
		}
	}
	return m, sc.Err()
}

// Scrape GETs c.Base/metrics (with c's token, if any) and parses at most
// 16 MiB of it.
func (c *Client) Scrape(ctx context.Context) (Metrics, error) {
	resp, err := c.send(ctx, http.MethodGet, "/metrics", nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: HTTP %d", c.Base, resp.StatusCode)
	}
	return ParseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// Sum adds the series of metric name whose labels contain every one of
// labels (each like `mode="sync"`).
func (m Metrics) Sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		n, lab, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lab, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// GrownSeries returns the increase of metric name between two scrapes, per
// series (keyed by its labels without braces), for the series that grew.
func GrownSeries(before, after Metrics, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		n, lab, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		if d := v - before[k]; d > 0 {
			out[strings.TrimSuffix(lab, "}")] = d
		}
	}
	return out
}

// MeanDelta is the mean of a histogram or summary in seconds over the
// interval between two scrapes (Δsum / Δcount of the series matching
// labels), and the number of observations in it.
func MeanDelta(before, after Metrics, name string, labels ...string) (time.Duration, float64, error) {
	dc := after.Sum(name+"_count", labels...) - before.Sum(name+"_count", labels...)
	ds := after.Sum(name+"_sum", labels...) - before.Sum(name+"_sum", labels...)
	if dc <= 0 {
		return 0, 0, errors.New("no observations")
	}
	return time.Duration(ds / dc * float64(time.Second)), dc, nil
}
