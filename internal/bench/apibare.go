package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// bareServer is the baseline: net/http answering fixed bytes.
type bareServer struct {
	url   string
	pid   int // its process, when a child (0: this process)
	close func()
}

// bareMaxAPIBody bounds the body a bare child is given to serve.
const bareMaxAPIBody = 16 << 20

func startBare(body []byte, ctype string) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare baseline: %w", err)
	}
	clen := strconv.Itoa(len(body))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{ctype}
		h["Content-Length"] = []string{clen}
		w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return &bareServer{url: "http://" + ln.Addr().String(), close: func() { srv.Close(); <-done }}, nil
}

// bareSpec is what a bare child serves: the first line on its stdin.
type bareSpec struct {
	Body        []byte `json:"body"`
	ContentType string `json:"content_type"`
}

// bareHello is the bare child's first line on stdout: where it serves and
// its process id (its CPU is read from /proc, and --pin moves it).
type bareHello struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// RunAPIBare is the body of the hidden `findash bench api-bare`, the bare
// baseline of `bench api --baseline` in its own process, as the server
// under test is (in the generator's process it would share the
// generator's scheduler and garbage collector, which measured the
// scheduling more than the handler): it reads a bareSpec line on stdin,
// serves its bytes on a loopback port, writes {"url":…,"pid":…} on stdout and
// serves until stdin closes or ctx ends.
func RunAPIBare(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReaderSize(io.LimitReader(stdin, bareMaxAPIBody), 64<<10)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bare baseline: read its body: %w", err)
	}
	var spec bareSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		return fmt.Errorf("bare baseline: %w", err)
	}
	b, err := startBare(spec.Body, spec.ContentType)
	if err != nil {
		return err
	}
	defer b.close()
	if err := json.NewEncoder(stdout).Encode(bareHello{URL: b.url, PID: os.Getpid()}); err != nil {
		return fmt.Errorf("bare baseline: %w", err)
	}
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(eof) }() // ends when the parent closes stdin
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return nil
}

// startBareChild starts the bare baseline as a child process (start
// non-nil) or in this process, serving body.
func startBareChild(ctx context.Context, start func(context.Context) Child, body []byte, ctype string) (*bareServer, error) {
	if start == nil {
		return startBare(body, ctype)
	}
	c := start(ctx)
	if c.Err != nil {
		return nil, fmt.Errorf("bare baseline: %w", c.Err)
	}
	stop := func() { c.Stdin.Close(); c.Wait() }
	spec, _ := json.Marshal(bareSpec{Body: body, ContentType: ctype}) // plain data always marshals
	if _, err := c.Stdin.Write(append(spec, '\n')); err != nil {
		stop()
		return nil, fmt.Errorf("bare baseline: %w", err)
	}
	var hello bareHello
	line, err := bufio.NewReader(c.Stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	if err != nil || hello.URL == "" {
		stop()
		return nil, fmt.Errorf("bare baseline: the child said %q: %v", line, err)
	}
	go io.Copy(io.Discard, c.Stdout) // nothing more is expected; keep the pipe drained
	return &bareServer{url: hello.URL, pid: hello.PID, close: stop}, nil
}
