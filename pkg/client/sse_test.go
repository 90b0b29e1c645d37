package client

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readFrames(t *testing.T, in string) ([]Frame, error) {
	t.Helper()
	r := newFrameReader(strings.NewReader(in))
	var out []Frame
	for range 1000 {
		f, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, f)
	}
	t.Fatal("more than 1000 frames")
	return nil, nil
}

func TestFrameReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Frame
	}{
		{"one frame", "id: 7\nevent: log\ndata: {\"a\":1}\n\n", []Frame{{ID: "7", Event: "log", Data: []byte(`{"a":1}`)}}},
		{"comments and keep-alives are skipped", ": stream of x\n\n: keep-alive\n\nid: 1\ndata: a\n\n", []Frame{{ID: "1", Data: []byte("a")}}},
		{"multi-line data joins with newlines", "data: a\ndata: b\ndata\n\n", []Frame{{Data: []byte("a\nb\n")}}},
		{"CRLF and CR line ends", "id: 1\r\ndata: x\r\n\r\nid: 2\rdata: y\r\r", []Frame{{ID: "1", Data: []byte("x")}, {ID: "2", Data: []byte("y")}}},
		{"no space after the colon", "data:x\n\n", []Frame{{Data: []byte("x")}}},
		{"a frame with no data is not dispatched", "id: 3\nevent: log\n\ndata: z\n\n", []Frame{{Data: []byte("z")}}},
		{"a partial frame at the end is dropped", "data: a\n\ndata: b\n", []Frame{{Data: []byte("a")}}},
		{"unknown fields are ignored", "retry: 10\nfoo: bar\ndata: d\n\n", []Frame{{Data: []byte("d")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrames(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d frames %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i].ID != tc.want[i].ID || got[i].Event != tc.want[i].Event || string(got[i].Data) != string(tc.want[i].Data) {
					t.Errorf("frame %d = %+v (data %q), want %+v (data %q)", i, got[i], got[i].Data, tc.want[i], tc.want[i].Data)
				}
			}
		})
	}
}

func TestFrameReaderBoundsAFrame(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n"
	_, err := readFrames(t, strings.Repeat(line, 5)+"\n")
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("5 MiB of data lines: err = %v, want ErrFrameTooLarge", err)
	}
	_, err = readFrames(t, "data: "+strings.Repeat("y", maxFrameBytes+10)+"\n\n")
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("one 4 MiB line: err = %v, want ErrFrameTooLarge", err)
	}
}

func FuzzFrameReader(f *testing.F) {
	for _, s := range []string{"id: 1\nevent: log\ndata: {}\n\n", ": c\n\ndata: a\rdata: b\r\n\r\n", "data\n\n", "\r\r\r", "id: \x00\ndata: x\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := newFrameReader(strings.NewReader(in))
		total := 0
		for range len(in) + 1 {
			fr, err := r.Next()
			if err != nil {
				return
			}
			total += len(fr.Data)
			if strings.ContainsAny(fr.ID, "\r\n\x00") || strings.ContainsAny(fr.Event, "\r\n") {
				t.Fatalf("field kept a line break or NUL: %+v", fr)
			}
			if total > len(in) {
				t.Fatalf("frames hold %d data bytes from %d input bytes", total, len(in))
			}
		}
		t.Fatalf("more frames than input bytes from %q", in)
	})
}
