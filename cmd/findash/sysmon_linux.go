package main

import "syscall"

// execWithSysmonAwake executes this binary again, same process and
// arguments, with env (sysmonEnv's). /proc/self/exe names the running
// image even when an upgrade replaced the file on disk. It returns only
// when the exec failed; the caller goes on without the setting.
func execWithSysmonAwake(args, env []string) error {
	return syscall.Exec("/proc/self/exe", args, env)
}
