package svcboot

import "flag"

// SecretString is fs.String for a secret: its default comes from the
// environment variable env (taken out of the environment, TakeSecretEnv)
// and is never shown, so `-h` cannot print a secret as a default.
func SecretString(fs *flag.FlagSet, name, env, usage string) *string {
	h := &hiddenString{s: TakeSecretEnv(env)}
	fs.Var(h, name, usage)
	return &h.s
}

// hiddenString is a flag value whose String is always empty: the flag
// package prints a default only when String differs from the zero value's.
type hiddenString struct{ s string }

func (h *hiddenString) Set(s string) error { h.s = s; return nil }
func (h *hiddenString) String() string     { return "" }
