package kubernetes

import "testing"

// TestServiceURL: the endpoint the deployer stores for the gateway's HTTP
// route is the function's Service (NewService: named as the function, in
// the tenant's namespace, on HTTPPort), by cluster DNS.
func TestServiceURL(t *testing.T) {
	svc := NewService("ef-acme", "acme", httpSpec())
	want := "http://" + *svc.Name + "." + *svc.Namespace + ".svc:8080"
	if got := ServiceURL("ef-acme", *svc.Name); got != want || *svc.Spec.Ports[0].Port != HTTPPort {
		t.Fatalf("ServiceURL = %q, want %q (Service port %d)", got, want, *svc.Spec.Ports[0].Port)
	}
}
