// Command build bundles the dashboard: it runs esbuild (through its Go API,
// no Node needed) over web/src and writes content-hashed, precompressed
// files to internal/web/dist, which the web package embeds.
//
//	go run ./web/build            # from the repository root
//	go generate ./internal/web    # the same
//
// Run it after changing anything under web/src or web/package-lock.json and
// commit internal/web/dist; internal/web's tests fail while it is stale.
//
// It imports only the bundler; the server must not import the bundler.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/findash/findash/internal/web/bundle"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	webDir := fs.String("web", "web", "the web directory (package.json, src/, node_modules/)")
	out := fs.String("out", "internal/web/dist", "where to write the built files (replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := bundle.Build(*webDir)
	if err != nil {
		return err
	}
	if err := bundle.Write(r, *out); err != nil {
		return err
	}
	for _, f := range r.Manifest.Files {
		fmt.Fprintf(stdout, "%-40s %8d B  gzip %7d  br %7d\n", f.Name, f.Size, f.Gzip, f.Brotli)
	}
	m := r.Manifest
	fmt.Fprintf(stdout, "first load of the overview (%d files): %d B raw, %d B gzip, %d B brotli\n",
		len(m.Initial), m.InitialSize(""), m.InitialSize("gzip"), m.InitialSize("br"))
	return nil
}
