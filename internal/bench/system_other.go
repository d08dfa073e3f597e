//go:build !linux

package bench

import "syscall"

// bindAddressNoPort does nothing where IP_BIND_ADDRESS_NO_PORT does not
// exist: each source address then holds one ephemeral range in total.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }
