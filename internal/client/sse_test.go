package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadSSE(t *testing.T) {
	stream := "retry: 3000\n\n" +
		": ping\n\n" +
		"id: 1\nevent: progress\ndata: {\"type\":\"progress\",\"seq\":1,\"runId\":\"r\",\"data\":{\"status\":\"creating\"}}\n\n" +
		": ping\n\n" +
		"id: 2\nevent: message\ndata: {\"type\":\"message\",\"seq\":2,\"runId\":\"r\",\n" +
		"data: \"data\":{\"content\":\"hi\"}}\n\n"
	var got []string
	err := ReadSSE(strings.NewReader(stream), func(e Event) error {
		got = append(got, e.ID+"/"+e.Name+"/"+e.Type+"/"+string(e.Data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1/progress/progress/{"status":"creating"}`, `2/message/message/{"content":"hi"}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	stop := errors.New("stop")
	n := 0
	err = ReadSSE(strings.NewReader(stream), func(Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("callback error: got %v after %d events, want stop after 1", err, n)
	}
	if err := ReadSSE(strings.NewReader("data: {not json}\n\n"), func(Event) error { return nil }); err == nil {
		t.Error("malformed data accepted")
	}
}
