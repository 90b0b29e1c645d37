//go:build !linux

package svcboot

// ExecWithoutSecrets does nothing here: it re-executes the program only on
// Linux, where /proc shows a process's environment and arguments as they
// were at exec. TakeSecretEnv still removes the secrets from the
// environment children inherit.
func ExecWithoutSecrets(secrets ...Secret) error { return nil }
