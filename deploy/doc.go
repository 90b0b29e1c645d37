// Package deploy holds EventFlow's Kubernetes manifests (deploy/k8s,
// kustomize) and Helm chart (deploy/helm/eventflow), and the tests that
// prove them against a real API server: deploy/k8s, deploy/helm and their
// shared checks in deploy/internal/manifest. See deploy/README.md.
package deploy
