module github.com/eventflow/eventflow/deploy

go 1.26.0
