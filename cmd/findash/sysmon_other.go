//go:build !linux

package main

// execWithSysmonAwake is a no-op off Linux: the setting is measured there
// only (decision 0085).
func execWithSysmonAwake(args, env []string) error { return nil }
