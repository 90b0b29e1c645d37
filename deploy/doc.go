// Package deploy holds the tests that prove EventFlow's Kubernetes manifests
// (deploy/k8s) and Helm chart (deploy/helm) against a real API server.
package deploy
