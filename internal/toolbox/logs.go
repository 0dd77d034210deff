package toolbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of a background process's line log.
const (
	// LogLines is how many output lines of a background process are kept.
	LogLines = 2000
	// maxLogLineBytes caps one line; longer lines are cut (a minified bundle
	// printed by a dev server must not evict the whole log).
	maxLogLineBytes = 4 << 10
)

// Streams of a log line. StreamSystem lines come from the supervisor
// itself (exits and restarts), not from the process.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	StreamSystem = "system"
)

// LogEntry is one line of a background process's output. Seq starts at 1
// and grows by one per line for as long as the toolbox runs, across
// restarts and replacements of the process.
type LogEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
}

// lineLog is a ring of the last LogLines lines with a way to wait for more.
type lineLog struct {
	mu      sync.Mutex
	entries []LogEntry // ring of at most cap entries, oldest at head
	head    int
	next    int64
	changed chan struct{} // closed and replaced on every append
}

func newLineLog() *lineLog {
	return &lineLog{next: 1, changed: make(chan struct{})}
}

func (l *lineLog) append(stream, line string) {
	if len(line) > maxLogLineBytes {
		line = line[:maxLogLineBytes]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := LogEntry{Seq: l.next, Time: time.Now().UTC(), Stream: stream, Line: strings.ToValidUTF8(line, "\uFFFD")}
	l.next++
	if len(l.entries) < LogLines {
		l.entries = append(l.entries, e)
	} else {
		l.entries[l.head] = e
		l.head = (l.head + 1) % LogLines
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// since returns the kept lines after seq (at most limit, 0 for all) and a
// channel that is closed when another line arrives.
func (l *lineLog) since(after int64, limit int) ([]LogEntry, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LogEntry
	for i := range l.entries {
		e := l.entries[(l.head+i)%len(l.entries)]
		if e.Seq > after {
			out = append(out, e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, l.changed
}

// lineWriter splits a byte stream into lines of one stream of a lineLog.
// It is used by one goroutine (the pipe copy), Flush included.
type lineWriter struct {
	log     *lineLog
	stream  string
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// Keep at most one line's worth; the rest of a huge line is cut.
			w.partial = append(w.partial, p[:min(len(p), max(0, maxLogLineBytes-len(w.partial)))]...)
			break
		}
		w.partial = append(w.partial, p[:min(i, max(0, maxLogLineBytes-len(w.partial)))]...)
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits an unterminated last line.
func (w *lineWriter) Flush() {
	if len(w.partial) > 0 {
		w.emit()
	}
}

func (w *lineWriter) emit() {
	w.log.append(w.stream, string(bytes.TrimRight(w.partial, "\r")))
	w.partial = w.partial[:0]
}

// handleLogs is GET /v1/processes/{name}/logs?after=SEQ&limit=N&follow=1:
// the process's kept lines after SEQ as JSON lines (one LogEntry each),
// then, with follow, new lines as they come until the client goes away.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	p := s.process(r.PathValue("name"))
	if p == nil {
		writeError(w, http.StatusNotFound, "no such process")
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseInt(cmp.Or(q.Get("after"), "0"), 10, 64)
	if err != nil || after < 0 {
		writeError(w, http.StatusBadRequest, "invalid after")
		return
	}
	limit, err := strconv.Atoi(cmp.Or(q.Get("limit"), "0"))
	if err != nil || limit < 0 {
		writeError(w, http.StatusBadRequest, "invalid limit")
		return
	}
	follow := q.Get("follow") == "1"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for {
		entries, changed := p.lines.since(after, limit)
		limit = 0
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return
			}
			after = e.Seq
		}
		if !follow {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}
