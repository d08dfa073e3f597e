// Command findash is the real-time market-data platform in one binary: see
// `findash --help` and the project README.
//
// It is the only package that imports the concrete adapters and the
// configuration, and nothing imports it. It must not import test support
// (storetest, notifytest, testenv) or the dashboard bundler.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "findash:", err)
		os.Exit(1)
	}
}
