package daytona

import (
	"bytes"
	"strings"
)

// The toolbox marks each chunk of a session command's log with three
// bytes naming its stream (reference §1.8): 0x01×3 for stdout, 0x02×3 for
// stderr. Output before any marker is taken as stdout.
const (
	markerLen = 3
	// systemMark starts a line the process supervisor (process.go) writes
	// about exits and restarts. 0x1E (record separator) does not occur in
	// ordinary program output.
	systemMark = "\x1eqv:"
	// maxLineBytes caps one log line, as the local engine does.
	maxLineBytes = 4 << 10
)

var streamOfMarker = map[byte]string{0x01: "stdout", 0x02: "stderr"}

// demux splits a marked byte stream into lines per stream. Markers may be
// split across writes (WebSocket frames). Feeding the same bytes in any
// split yields the same lines in the same order, which is what lets Seq
// numbers agree between an HTTP snapshot and a replayed stream.
type demux struct {
	emit    func(stream, line string) error
	stream  string
	pending []byte // the start of a marker cut off by the last write
	partial map[string][]byte
}

func newDemux(emit func(stream, line string) error) *demux {
	return &demux{emit: emit, stream: "stdout", partial: make(map[string][]byte)}
}

func (d *demux) write(p []byte) error {
	data := p
	if len(d.pending) > 0 {
		data = append(d.pending, p...)
		d.pending = nil
	}
	for i := 0; i < len(data); {
		b := data[i]
		if name, ok := streamOfMarker[b]; ok {
			n := runOf(data[i:], b, markerLen)
			if n == markerLen {
				d.stream = name
				i += markerLen
				continue
			}
			if i+n == len(data) {
				// Possibly a marker the next write completes.
				d.pending = append([]byte(nil), data[i:]...)
				return nil
			}
		}
		if b == '\n' {
			if err := d.line(d.stream); err != nil {
				return err
			}
			i++
			continue
		}
		// Copy up to the next byte of interest at once.
		j := i + 1
		for j < len(data) && data[j] != '\n' && data[j] != 0x01 && data[j] != 0x02 {
			j++
		}
		buf := d.partial[d.stream]
		if room := maxLineBytes - len(buf); room > 0 {
			buf = append(buf, data[i:min(j, i+room)]...)
		}
		d.partial[d.stream] = buf
		i = j
	}
	return nil
}

// runOf counts how many of the first max bytes of data are b.
func runOf(data []byte, b byte, max int) int {
	n := 0
	for n < len(data) && n < max && data[n] == b {
		n++
	}
	return n
}

// flush emits unterminated lines, stdout first. A split marker left at the
// end is output after all.
func (d *demux) flush() error {
	if len(d.pending) > 0 {
		d.partial[d.stream] = append(d.partial[d.stream], d.pending...)
		d.pending = nil
	}
	for _, s := range []string{"stdout", "stderr"} {
		if len(d.partial[s]) > 0 {
			if err := d.line(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// line emits the partial line of stream s. A supervisor note may follow
// output that did not end in a newline; it is split off as its own line.
func (d *demux) line(s string) error {
	raw := bytes.TrimRight(d.partial[s], "\r")
	d.partial[s] = d.partial[s][:0]
	text := strings.ToValidUTF8(string(raw), "\uFFFD")
	before, note, found := strings.Cut(text, systemMark)
	if !found {
		return d.emit(s, text)
	}
	if before != "" {
		if err := d.emit(s, before); err != nil {
			return err
		}
	}
	return d.emit("system", note)
}

// demuxAll splits a whole log; with flush, an unterminated last line
// counts too.
func demuxAll(output []byte, flush bool) []logLine {
	var lines []logLine
	d := newDemux(func(stream, line string) error {
		lines = append(lines, logLine{stream: stream, line: line})
		return nil
	})
	_ = d.write(output) // emit never fails here
	if flush {
		_ = d.flush()
	}
	return lines
}

type logLine struct{ stream, line string }
