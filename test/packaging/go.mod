module github.com/eventflow/eventflow/test/packaging

go 1.26.0
