module github.com/eventflow/eventflow/cmd/eventflow

go 1.26.0

require (
	github.com/eventflow/eventflow/pkg v0.0.0
	github.com/eventflow/eventflow/services/deployer v0.0.0
	github.com/eventflow/eventflow/services/gateway v0.0.0
	github.com/eventflow/eventflow/services/invoker v0.0.0
	github.com/eventflow/eventflow/services/logstream v0.0.0
)

replace (
	github.com/eventflow/eventflow/pkg => ../../pkg
	github.com/eventflow/eventflow/services/deployer => ../../services/deployer
	github.com/eventflow/eventflow/services/gateway => ../../services/gateway
	github.com/eventflow/eventflow/services/invoker => ../../services/invoker
	github.com/eventflow/eventflow/services/logstream => ../../services/logstream
)
