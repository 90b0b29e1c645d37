// Command printversion prints version.Get() as JSON, for version_test.go.
package main

import (
	"encoding/json"
	"os"

	"github.com/eventflow/eventflow/pkg/version"
)

func main() { _ = json.NewEncoder(os.Stdout).Encode(version.Get()) }
