package kubernetes

// PolicyCurrent lets the cluster tests check the policy the API server
// stores (with its defaults) against the one EventFlow builds.
var PolicyCurrent = policyCurrent
