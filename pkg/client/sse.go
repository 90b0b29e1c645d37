package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxFrameBytes bounds one Server-Sent Events line and one frame's data,
// so a hostile or broken server cannot make the client buffer without end.
const maxFrameBytes = 4 << 20

// ErrFrameTooLarge is returned for an SSE frame over maxFrameBytes.
var ErrFrameTooLarge = errors.New("server-sent event larger than 4 MiB")

// Frame is one Server-Sent Events message.
type Frame struct {
	ID    string
	Event string
	Data  []byte
}

// frameReader reads text/event-stream frames (the WHATWG HTML rules: lines
// of "field: value", ":" comments, a blank line ends a frame; data lines
// join with "\n"; a frame with no data is not dispatched).
type frameReader struct {
	sc *bufio.Scanner
}

func newFrameReader(r io.Reader) *frameReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxFrameBytes)
	sc.Split(scanLines)
	return &frameReader{sc: sc}
}

// Next returns the next frame with data, or io.EOF when the stream ends
// cleanly (a partial frame at the end is dropped, as browsers do).
func (r *frameReader) Next() (Frame, error) {
	var (
		f       Frame
		data    bytes.Buffer
		hasData bool
	)
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if hasData {
				f.Data = bytes.Clone(data.Bytes())
				return f, nil
			}
			f = Frame{}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if data.Len()+len(value)+1 > maxFrameBytes {
				return Frame{}, ErrFrameTooLarge
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "event":
			f.Event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				f.ID = string(value)
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Frame{}, ErrFrameTooLarge
		}
		return Frame{}, fmt.Errorf("read stream: %w", err)
	}
	return Frame{}, io.EOF
}

// scanLines splits on \n, \r\n or a lone \r, as the SSE format allows.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need one more byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
