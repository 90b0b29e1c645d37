// Package packaging checks the container images' Dockerfiles and the
// docker-compose file without a Docker engine.
package packaging
