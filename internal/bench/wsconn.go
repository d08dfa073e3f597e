package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// The load client speaks WebSocket itself (RFC 6455, client side, no
// extensions) rather than through gorilla/websocket: its read path is the
// client's cost per delivery, and a client that costs as much CPU as the
// server it measures shares the same two cores and bounds every result
// (docs/benchmarks/ws.md). What it does per read: one read(2) of whatever
// the socket holds, up to the connection's buffer, and every complete
// frame in it handled in place — no per-frame reader, no copy of the
// payload, no allocation.

// errPeerClosed is a close frame from the server: the connection ended
// normally.
var errPeerClosed = errors.New("websocket: closed by the server")

// maxFrame bounds one message the client accepts (a frame, or a
// fragmented message assembled): a server's fan-in frame holds one
// coalesced batch of ticks, far below this.
const maxFrame = 64 << 20

// Read buffers: each connection reads into its own buffer of
// readBufferBudget / connections bytes, within [minReadBuffer,
// maxReadBuffer] — 64 KiB each for 1,000 connections, 4 KiB each for
// 10,000 and more —, grown for a frame that does not fit.
const (
	readBufferBudget = 64 << 20
	minReadBuffer    = 4 << 10
	maxReadBuffer    = 64 << 10
)

func readBufferSize(conns int) int {
	return min(maxReadBuffer, max(minReadBuffer, readBufferBudget/max(conns, 1)))
}

// wsAcceptGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialWS opens a WebSocket to rawURL (ws://host[:port]/path?query) with
// nd, within timeout, and returns the connection and the bytes that
// followed the 101 response in its first reads (frames the server sent
// with or right after it, e.g. findash's ack of ?subscribe=).
func dialWS(ctx context.Context, nd *net.Dialer, rawURL string, timeout time.Duration, buf []byte) (net.Conn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("websocket url %q: want ws://", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := nd.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	var keyRaw [16]byte
	rand.Read(keyRaw[:])
	key := base64.StdEncoding.EncodeToString(keyRaw[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	n := 0
	for {
		if n == len(buf) {
			c.Close()
			return nil, nil, fmt.Errorf("handshake: response header over %d bytes", len(buf))
		}
		m, err := c.Read(buf[n:])
		n += m
		if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
			if err := checkUpgrade(buf[:end+4], key); err != nil {
				c.Close()
				return nil, nil, err
			}
			c.SetDeadline(time.Time{})
			return c, buf[end+4 : n], nil
		}
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("handshake: %w", err)
		}
	}
}

// checkUpgrade checks a handshake response: status 101 and the accept
// key that proves the server read this request's key.
func checkUpgrade(head []byte, key string) error {
	sc := bufio.NewScanner(bytes.NewReader(head))
	if !sc.Scan() {
		return errors.New("handshake: empty response")
	}
	status := sc.Text()
	if len(status) < 12 || status[9:12] != "101" {
		return fmt.Errorf("handshake: %q", status)
	}
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(value)) != want {
				return errors.New("handshake: wrong Sec-WebSocket-Accept")
			}
			return nil
		}
	}
	return errors.New("handshake: no Sec-WebSocket-Accept")
}

// writeFrame writes one masked client frame (RFC 6455 §5.3) of opcode op.
func writeFrame(w io.Writer, op byte, payload []byte) error {
	b := make([]byte, 0, 14+len(payload))
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	_, err := w.Write(b)
	return err
}

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// pump reads once from the connection (whatever it holds, up to the
// buffer's free space), handles every complete frame read so far and
// adds the counts to the fleet's. now, read once per read, is the arrival
// time of every tick in it.
func (r *reader) pump() error {
	if r.rd == r.wr {
		r.rd, r.wr = 0, 0
	} else if r.need > len(r.buf)-r.rd || r.wr == len(r.buf) {
		// The frame being read does not fit behind rd: move it to the
		// front, and grow the buffer when it does not fit at all.
		if r.need > len(r.buf) {
			nb := make([]byte, max(r.need, 2*len(r.buf)))
			r.wr = copy(nb, r.buf[r.rd:r.wr])
			r.buf = nb
		} else {
			r.wr = copy(r.buf, r.buf[r.rd:r.wr])
		}
		r.rd = 0
	}
	n, err := r.c.Read(r.buf[r.wr:])
	if n > 0 {
		r.wr += n
		if ferr := r.frames(time.Now().UnixMicro()); ferr != nil {
			return ferr
		}
	}
	return err
}

// frames handles every complete frame in buf[rd:wr], then flushes the
// counts and answers a Centrifugo ping.
func (r *reader) frames(now int64) error {
	var m msgCounts
	r.lat = r.lat[:0]
	var err error
	for err == nil {
		p := r.buf[r.rd:r.wr]
		if len(p) < 2 {
			r.need = 2
			break
		}
		fin, op := p[0]&0x80 != 0, p[0]&0x0f
		if p[1]&0x80 != 0 {
			err = errors.New("websocket: masked frame from the server")
			break
		}
		hdr, n := 2, uint64(p[1]&0x7f)
		switch n {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if len(p) < hdr {
			r.need = hdr
			break
		}
		switch hdr {
		case 4:
			n = uint64(binary.BigEndian.Uint16(p[2:]))
		case 10:
			n = binary.BigEndian.Uint64(p[2:])
		}
		if n > maxFrame {
			err = fmt.Errorf("websocket: frame of %d bytes, over %d", n, maxFrame)
			break
		}
		if uint64(len(p)-hdr) < n {
			r.need = hdr + int(n)
			break
		}
		r.need = 0
		payload := p[hdr : hdr+int(n)]
		r.rd += hdr + int(n)
		err = r.frame(fin, op, payload, now, &m)
	}
	if len(r.lat) > 0 {
		r.shard.RecordMicros(r.lat)
	}
	r.f.count(m)
	if err == nil && r.pong {
		r.pong = false
		// Centrifugo disconnects a client that does not answer its
		// pings (every 25 s) within the pong timeout.
		if werr := writeFrame(r.c, opText, []byte("{}")); werr != nil {
			err = fmt.Errorf("pong: %w", werr)
		}
	}
	return err
}

// frame handles one frame: a data frame's messages (one per line), a
// fragment of a message, or a control frame.
func (r *reader) frame(fin bool, op byte, payload []byte, now int64, m *msgCounts) error {
	switch op {
	case opText, opBinary:
		if r.fragmented {
			return errors.New("websocket: data frame inside a fragmented message")
		}
		if !fin {
			r.msg = append(r.msg[:0], payload...)
			r.fragmented = true
			return nil
		}
		r.messages(payload, now, m)
	case opContinuation:
		if !r.fragmented {
			return errors.New("websocket: continuation without a first fragment")
		}
		if len(r.msg)+len(payload) > maxFrame {
			return fmt.Errorf("websocket: message over %d bytes", maxFrame)
		}
		r.msg = append(r.msg, payload...)
		if fin {
			r.fragmented = false
			r.messages(r.msg, now, m)
		}
	case opClose:
		// A normal close or going away ends the connection quietly;
		// any other code is an error (as it is to a browser).
		if len(payload) >= 2 {
			if code := binary.BigEndian.Uint16(payload); code != 1000 && code != 1001 {
				return fmt.Errorf("websocket: closed by the server with %d %q", code, payload[2:])
			}
		}
		return errPeerClosed
	case opPing:
		if err := writeFrame(r.c, opPong, payload); err != nil {
			return fmt.Errorf("pong: %w", err)
		}
	case opPong:
	default:
		return fmt.Errorf("websocket: opcode %d", op)
	}
	return nil
}

// messages handles each line of a message: findash and Centrifugo both
// put several messages in one frame, one per line.
func (r *reader) messages(p []byte, now int64, m *msgCounts) {
	for {
		if t, n, ok := scanTick(p, r.centrifugo); ok {
			r.delivered(t, now, m)
			if n == len(p) {
				return
			}
			p = p[n+1:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.handle(p, now, m)
			return
		}
		r.handle(p[:i], now, m)
		p = p[i+1:]
	}
}
