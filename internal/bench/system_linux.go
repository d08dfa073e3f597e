//go:build linux

package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindAddressNoPort is a net.Dialer Control that sets IP_BIND_ADDRESS_NO_PORT
// on a socket bound to a source address: the kernel then picks the port at
// connect time, unique per destination, instead of at bind time, unique
// for the address. Without it a source address holds at most one
// ephemeral range of connections in total, and each bind searches it.
func bindAddressNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
