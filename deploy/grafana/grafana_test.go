package grafana

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type dashboard struct {
	Title      string
	UID        string
	Templating struct {
		List []struct{ Name, Type, Query string }
	}
	Panels []struct {
		ID         int
		Title      string
		Datasource struct{ Type, UID string }
		Targets    []struct{ RefID, Expr string }
	}
}

var metricName = regexp.MustCompile(`\beventflow_[a-z0-9_]+`)

// TestDashboardStructure: eventflow.json is a Grafana dashboard with a
// title, a uid and a Prometheus datasource variable every panel uses; each
// panel has a title and targets with PromQL; and every EventFlow metric it
// queries is documented in docs/ARCHITECTURE.md (Observability). That each
// is exported is cmd/eventflow's TestDashboardMetricsExist.
func TestDashboardStructure(t *testing.T) {
	raw, err := os.ReadFile("eventflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("eventflow.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("title %q uid %q: both are needed", d.Title, d.UID)
	}
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no Prometheus datasource variable")
	}
	arch, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if p.Title == "" || ids[p.ID] {
			t.Errorf("panel %d: empty title or duplicate id", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != dsVar {
			t.Errorf("panel %q: datasource %q, want the variable %s", p.Title, p.Datasource.UID, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: no expr", p.Title, tg.RefID)
			}
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suf)
				}
				if !strings.Contains(string(arch), "`"+base) {
					t.Errorf("panel %q: metric %s is not documented in docs/ARCHITECTURE.md", p.Title, base)
				}
			}
		}
	}
}
