package feed

import (
	"io"

	"github.com/gorilla/websocket"
)

// deadlineSlack: a connection's read deadline is moved only once it is
// closer than Silence, to Silence + Silence/deadlineSlack.
const deadlineSlack = 8

// read reads the next message into f.msg, a buffer reused from message to
// message (at most MaxMessageBytes, the connection's read limit), and
// returns it; it is valid until the next read.
func (f *Feed) read(conn *websocket.Conn) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf := f.msg[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			f.msg = buf
			return buf, nil
		}
		if err != nil {
			f.msg = buf
			return nil, err
		}
	}
}
