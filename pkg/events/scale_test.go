package events

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLoad(t *testing.T) {
	for _, l := range []Load{
		{Source: "gateway-0a1b2c3d", InFlight: 3, Held: 1},
		{Source: "invoker-1", Served: []Served{{Revision: 3, Requests: 10, Failed: 2}, {Revision: 4, Requests: 1}}},
	} {
		got, err := ParseLoad(l.Data())
		if err != nil || !reflect.DeepEqual(got, l) {
			t.Fatalf("round trip: %+v %v", got, err)
		}
	}
	// The largest report fits.
	most := Load{Source: strings.Repeat("s", 64), InFlight: maxLoad, Held: maxLoad}
	for i := range MaxServed {
		most.Served = append(most.Served, Served{Revision: 999990 + int64(i), Requests: maxLoad, Failed: maxLoad})
	}
	if _, err := ParseLoad(most.Data()); err != nil {
		t.Fatalf("the largest report (%d bytes): %v", len(most.Data()), err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{}`, `{"source":""}`,
		`{"source":"a b","inFlight":1}`, `{"source":"a.b","inFlight":1}`, `{"source":"*","inFlight":1}`,
		`{"source":"g","inFlight":-1}`, `{"source":"g","held":-1}`, `{"source":"g","inFlight":1048577}`,
		`{"source":"g","inFlight":1,"extra":1}`, `{"source":"g"}{"source":"g"}`,
		`{"source":"` + strings.Repeat("s", 65) + `"}`,
		`{"source":"g","inFlight":1.5}`,
		`{"source":"g","pad":"` + strings.Repeat(" ", MaxLoadSize) + `"}`,
		`{"source":"g","served":[{"revision":0,"requests":1}]}`,
		`{"source":"g","served":[{"revision":1000000,"requests":1}]}`,
		`{"source":"g","served":[{"revision":1,"requests":1,"failed":2}]}`,
		`{"source":"g","served":[{"revision":1,"requests":-1}]}`,
		`{"source":"g","served":[{"revision":1,"requests":1},{"revision":1,"requests":1}]}`,
		`{"source":"g","served":[{"revision":1,"requests":1,"x":1}]}`,
		`{"source":"g","served":[` + strings.TrimSuffix(strings.Repeat(`{"revision":1},`, MaxServed+1), ",") + `]}`,
	} {
		if l, err := ParseLoad([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %+v", bad, l)
		}
	}
	if ScaleSubject("acme", "web") != "eventflow.scale.acme.web" {
		t.Fatal(ScaleSubject("acme", "web"))
	}
	if tn, fn, err := TenantFunction(ScaleSubject("acme", "web")); err != nil || tn != "acme" || fn != "web" {
		t.Fatalf("the scaler reads tenant and function back: %q %q %v", tn, fn, err)
	}
}

// FuzzParseLoad: any load report the scaler accepts is within its bounds
// and reads back the same once encoded again.
func FuzzParseLoad(f *testing.F) {
	for _, s := range []string{
		`{"source":"gateway-1","inFlight":3,"held":1}`, `{"source":"i","inFlight":0}`,
		`{"source":"g","held":1048576}`, `{"source":"g","held":1048577}`, `{"source":"a.b"}`,
		`{"source":"g","inFlight":1e3}`, `{"source":"\u00e9"}`, `{}`, `null`, ``,
		`{"source":"g","served":[{"revision":2,"requests":5,"failed":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLoad(data)
		if err != nil {
			return
		}
		if l.InFlight < 0 || l.Held < 0 || l.InFlight > maxLoad || l.Held > maxLoad || !validToken(l.Source) || len(l.Source) > 64 || len(l.Served) > MaxServed {
			t.Fatalf("%q accepted as %+v", data, l)
		}
		for _, sv := range l.Served {
			if sv.Revision < 1 || sv.Failed < 0 || sv.Failed > sv.Requests || sv.Requests > maxLoad {
				t.Fatalf("%q accepted as %+v", data, l)
			}
		}
		back, err := ParseLoad(l.Data())
		if err != nil || !reflect.DeepEqual(back, l) {
			t.Fatalf("%q: %+v encodes as %s, which reads back as %+v (%v)", data, l, l.Data(), back, err)
		}
	})
}
