module github.com/eventflow/eventflow/cmd/probe

go 1.26.0
