package process

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
)

// maxLogLine caps one log line; the rest of a longer line is dropped.
const maxLogLine = 64 << 10

// logBuffer is the one bounded queue between every process's output and
// FollowLogs. A full queue drops the line: a process must never block on
// its own output because nobody follows the logs.
type logBuffer struct {
	ch        chan events.LogLine
	flushWait time.Duration
	dropped   atomic.Uint64
	following atomic.Bool
}

func newLogBuffer(n int, flushWait time.Duration) *logBuffer {
	return &logBuffer{ch: make(chan events.LogLine, n), flushWait: flushWait}
}

func (b *logBuffer) add(l events.LogLine) {
	select {
	case b.ch <- l:
	default:
		b.dropped.Add(1)
	}
}

// errFollowing is returned to a second concurrent FollowLogs.
var errFollowing = errors.New("process runtime: logs are already being followed")

// FollowLogs sends buffered and new log lines to out until ctx ends, then
// returns nil. It keeps going after Close, so the last lines of the stopped
// processes (all buffered by the time Close returns) are still delivered:
// when ctx ends, the lines buffered by then are handed to out, waiting for
// room, so a caller that ends ctx after Close and reads out until
// FollowLogs returns gets them all (up to Config.LogFlushWait; a caller that stops
// reading loses the rest, counted as dropped). Only one caller may follow
// at a time.
func (r *Runtime) FollowLogs(ctx context.Context, out chan<- events.LogLine) error {
	b := r.logs
	if !b.following.CompareAndSwap(false, true) {
		return errFollowing
	}
	defer b.following.Store(false)
	for {
		select {
		case <-ctx.Done():
			b.flush(out, nil)
			return nil
		case l := <-b.ch:
			select {
			case out <- l:
			case <-ctx.Done():
				b.flush(out, &l)
				return nil
			}
		}
	}
}

// flush hands first (if not nil) and then the lines buffered when it starts
// to out. It waits for room, since the follower reads out until FollowLogs
// returns and a full out (its reader busy publishing) is the usual case at
// shutdown, not a reason to drop; lines that arrive meanwhile wait for a
// later follower. After b.flushWait, what is left stays buffered and the
// line in hand counts as dropped.
func (b *logBuffer) flush(out chan<- events.LogLine, first *events.LogLine) {
	timer := time.NewTimer(b.flushWait)
	defer timer.Stop()
	n := len(b.ch)
	for {
		var l events.LogLine
		if first != nil {
			l, first = *first, nil
		} else {
			if n == 0 {
				return
			}
			n--
			select {
			case l = <-b.ch:
			default:
				return
			}
		}
		select {
		case out <- l:
		case <-timer.C:
			b.dropped.Add(1)
			return
		}
	}
}

// readerPool recycles the 64 KiB line buffers: a job run needs two.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLogLine) }}

// scanLines reads r to the end, hands every byte to raw (if not nil) and
// every line, without its line ending and capped at maxLogLine, to line.
func scanLines(r io.Reader, raw func([]byte), line func([]byte)) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); readerPool.Put(br) }()
	discarding := false // inside a line longer than maxLogLine
	for {
		chunk, err := br.ReadSlice('\n')
		if raw != nil && len(chunk) > 0 {
			raw(chunk)
		}
		switch {
		case err == nil:
			if !discarding {
				line(trimEOL(chunk))
			}
			discarding = false
		case errors.Is(err, bufio.ErrBufferFull):
			if !discarding {
				line(chunk)
				discarding = true
			}
		default: // EOF or a closed pipe: emit the last, unterminated line
			if len(chunk) > 0 && !discarding {
				line(trimEOL(chunk))
			}
			return
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// cappedBuffer keeps the first limit bytes written and drops the rest, so
// a chatty job cannot exhaust memory while its output is still drained.
type cappedBuffer struct {
	buf   []byte
	limit int
}

func (c *cappedBuffer) write(p []byte) {
	room := c.limit - len(c.buf)
	if room <= 0 {
		return
	}
	if len(p) > room {
		p = p[:room]
	}
	c.buf = append(c.buf, p...)
}
