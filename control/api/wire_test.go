package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// lengthVectors are the boundaries of the length table in
// reference/api-protocol.md, with the bytes the table prescribes.
var lengthVectors = []struct {
	n    uint64
	want []byte
}{
	{0x00, []byte{0x00}},
	{0x01, []byte{0x01}},
	{0x7F, []byte{0x7F}},
	{0x80, []byte{0x80, 0x80}},
	{0x3FFF, []byte{0xBF, 0xFF}},
	{0x4000, []byte{0xC0, 0x40, 0x00}},
	{0x1FFFFF, []byte{0xDF, 0xFF, 0xFF}},
	{0x200000, []byte{0xE0, 0x20, 0x00, 0x00}},
	{0xFFFFFFF, []byte{0xEF, 0xFF, 0xFF, 0xFF}},
	{0x10000000, []byte{0xF0, 0x10, 0x00, 0x00, 0x00}},
	{0xFFFFFFFF, []byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF}},
}

func TestLengthEncoding(t *testing.T) {
	for _, tc := range lengthVectors {
		t.Run(fmt.Sprintf("%#x", tc.n), func(t *testing.T) {
			got := appendLength(nil, tc.n)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("appendLength(%#x) = % X, want % X", tc.n, got, tc.want)
			}
			r := NewReader(bytes.NewReader(tc.want))
			n, err := r.readLength()
			if err != nil {
				t.Fatalf("readLength(% X): %v", tc.want, err)
			}
			if uint64(n) != tc.n {
				t.Fatalf("readLength(% X) = %#x, want %#x", tc.want, n, tc.n)
			}
		})
	}
}

func TestLengthTooBigPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("appendLength(1<<32) did not panic")
		}
	}()
	appendLength(nil, 1<<32)
}

// Non-shortest encodings are not what we send, but a peer may, and the
// table does not forbid them.
func TestLengthNonCanonical(t *testing.T) {
	for _, in := range [][]byte{
		{0x80, 0x05},
		{0xC0, 0x00, 0x05},
		{0xE0, 0x00, 0x00, 0x05},
		{0xF0, 0x00, 0x00, 0x00, 0x05},
		{0xF7, 0x00, 0x00, 0x00, 0x05},
	} {
		n, err := NewReader(bytes.NewReader(in)).readLength()
		if err != nil || n != 5 {
			t.Errorf("readLength(% X) = %d, %v; want 5", in, n, err)
		}
	}
}

func TestWordRoundTripBoundaries(t *testing.T) {
	for _, n := range []int{1, 0x7F, 0x80, 0x3FFF, 0x4000, smallWord, smallWord + 1, 0x1FFFFF, 0x200000, MaxWordLen} {
		t.Run(fmt.Sprintf("%#x", n), func(t *testing.T) {
			word := strings.Repeat("x", n-1) + "!"
			enc := EncodeSentence("/a", word, "=b=c")
			hdr := appendLength(nil, uint64(n))
			if !bytes.Contains(enc, append(hdr, 'x')) && n > 1 {
				t.Fatalf("encoding lacks length prefix % X", hdr)
			}
			// Halved reads make the word arrive in pieces, exercising the
			// incremental path for big words.
			r := NewReader(iotest.HalfReader(bytes.NewReader(enc)))
			got, err := r.ReadSentence()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0] != "/a" || got[1] != word || got[2] != "=b=c" {
				t.Fatalf("round trip mismatch: %d words", len(got))
			}
			if _, err := r.ReadSentence(); err != io.EOF {
				t.Fatalf("after last sentence: %v, want io.EOF", err)
			}
		})
	}
}

// Lengths above MaxWordLen are rejected from the prefix alone, before any
// body is read or allocated.
func TestWordTooLong(t *testing.T) {
	for _, n := range []uint64{MaxWordLen + 1, 0xFFFFFFF, 0x10000000, 0xFFFFFFFF} {
		in := append(AppendWord(nil, "/x"), appendLength(nil, n)...)
		_, err := NewReader(bytes.NewReader(in)).ReadSentence()
		if !errors.Is(err, ErrWordTooLong) {
			t.Errorf("length %#x: err = %v, want ErrWordTooLong", n, err)
		}
	}
}

// A reader that skips reads an over-long word through, keeps the words around it that
// fit (the tag), and stays in step for the next sentence.
func TestSkipOverLimits(t *testing.T) {
	var in []byte
	for _, w := range []string{"/system/script/add", strings.Repeat("x", 5000), ".tag=3"} {
		in = AppendWord(in, w)
	}
	in = append(in, 0)
	in = append(in, EncodeSentence("/quit")...)
	r := NewReader(bytes.NewReader(in))
	r.SetLimits(4096, 8192)
	r.SetSkip(true)
	words, err := r.ReadSentence()
	var se *SkippedError
	if !errors.As(err, &se) || !errors.Is(err, ErrWordTooLong) {
		t.Fatalf("over-long word: %v", err)
	}
	if strings.Join(words, " ") != "/system/script/add .tag=3" {
		t.Errorf("kept words %q", words)
	}
	if words, err := r.ReadSentence(); err != nil || len(words) != 1 || words[0] != "/quit" {
		t.Errorf("next sentence: %q %v", words, err)
	}
}

func TestSentenceTooLong(t *testing.T) {
	big := strings.Repeat("y", MaxWordLen)
	in := EncodeSentence("/x", big, big, "z")
	_, err := NewReader(bytes.NewReader(in)).ReadSentence()
	if !errors.Is(err, ErrSentenceTooLong) {
		t.Fatalf("err = %v, want ErrSentenceTooLong", err)
	}
	err = NewWriter(io.Discard).WriteSentence("/x", big, big, "z")
	if !errors.Is(err, ErrSentenceTooLong) {
		t.Fatalf("WriteSentence err = %v, want ErrSentenceTooLong", err)
	}
	// Exactly at the limit is fine.
	in = EncodeSentence(big, big)
	if _, err := NewReader(bytes.NewReader(in)).ReadSentence(); err != nil {
		t.Fatalf("sentence of MaxSentenceLen: %v", err)
	}
}

func TestTooManyWords(t *testing.T) {
	words := make([]string, MaxWords)
	for i := range words {
		words[i] = "w"
	}
	in := EncodeSentence(words...)
	got, err := NewReader(bytes.NewReader(in)).ReadSentence()
	if err != nil || len(got) != MaxWords {
		t.Fatalf("MaxWords words: %d, %v", len(got), err)
	}
	words = append(words, "w")
	in = EncodeSentence(words...)
	if _, err := NewReader(bytes.NewReader(in)).ReadSentence(); !errors.Is(err, ErrTooManyWords) {
		t.Fatalf("MaxWords+1 words: err = %v, want ErrTooManyWords", err)
	}
	if err := NewWriter(io.Discard).WriteSentence(words...); !errors.Is(err, ErrTooManyWords) {
		t.Fatalf("WriteSentence MaxWords+1: err = %v, want ErrTooManyWords", err)
	}
}

func TestReservedControlBytes(t *testing.T) {
	for c := 0xF8; c <= 0xFF; c++ {
		for _, prefix := range [][]byte{nil, AppendWord(nil, "/x")} {
			in := append(append([]byte{}, prefix...), byte(c), 0, 0, 0, 0, 0)
			_, err := NewReader(bytes.NewReader(in)).ReadSentence()
			if !errors.Is(err, ErrBadLength) {
				t.Errorf("% X: err = %v, want ErrBadLength", in, err)
			}
		}
	}
}

func TestKnownSentence(t *testing.T) {
	want := []byte("\x06/login\x0b=name=admin\x0a=password=\x00")
	got := EncodeSentence("/login", "=name=admin", "=password=")
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeSentence = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	if err := NewWriter(&buf).WriteSentence("/login", "=name=admin", "=password="); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteSentence = %q, want %q", buf.Bytes(), want)
	}
	// A 128-byte word takes the two-byte form 0x80 0x80.
	long := "=comment=" + strings.Repeat("c", 128-9)
	got = EncodeSentence("!re", long)
	want = append([]byte("\x03!re\x80\x80"), long...)
	want = append(want, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeSentence(128-byte word) = % X...", got[:8])
	}
}

func TestReadSentenceStreamEnds(t *testing.T) {
	full := EncodeSentence("/a", "=b=c")
	tests := []struct {
		name    string
		in      []byte
		want    [][]string
		wantErr error
	}{
		{"empty stream", nil, nil, io.EOF},
		{"one sentence", full, [][]string{{"/a", "=b=c"}}, io.EOF},
		{"empty sentence", []byte{0}, [][]string{{}}, io.EOF},
		{"two sentences", append(append([]byte{}, full...), full...), [][]string{{"/a", "=b=c"}, {"/a", "=b=c"}}, io.EOF},
		{"no terminator", full[:len(full)-1], nil, io.ErrUnexpectedEOF},
		{"inside word", full[:4], nil, io.ErrUnexpectedEOF},
		{"after length", full[:1], nil, io.ErrUnexpectedEOF},
		{"inside first length", []byte{0x80}, nil, io.ErrUnexpectedEOF},
		{"inside later length", append(AppendWord(nil, "/a"), 0xC0, 0x01), nil, io.ErrUnexpectedEOF},
		{"inside 5-byte length", []byte{0xF0, 0, 0}, nil, io.ErrUnexpectedEOF},
		{"inside big word", append(appendLength(nil, smallWord+10), 'x'), nil, io.ErrUnexpectedEOF},
		{"second sentence cut", append(append([]byte{}, full...), full[:3]...), [][]string{{"/a", "=b=c"}}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in))
			var got [][]string
			var err error
			for {
				var s []string
				s, err = r.ReadSentence()
				if err != nil {
					break
				}
				got = append(got, s)
			}
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sentences = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadSentencePassesIOErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom))
	if _, err := r.ReadSentence(); err != boom {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestWriteSentenceRejectsEmptyWord(t *testing.T) {
	var buf bytes.Buffer
	err := NewWriter(&buf).WriteSentence("/a", "", "=b=c")
	if !errors.Is(err, ErrBadWord) {
		t.Fatalf("err = %v, want ErrBadWord", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("rejected sentence wrote %d bytes", buf.Len())
	}
}

func TestEncodeSentenceEmptyWordPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	EncodeSentence("/a", "")
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("closed")
}

func TestWriteSentenceErrorSticks(t *testing.T) {
	fw := &failWriter{}
	w := NewWriter(fw)
	if err := w.WriteSentence("!done"); err == nil {
		t.Fatal("no error from failing writer")
	}
	if err := w.WriteSentence("!done"); err == nil {
		t.Fatal("second write after failure succeeded")
	}
}

// Concurrent writers must never interleave inside a sentence.
func TestWriterConcurrent(t *testing.T) {
	pr, pw := io.Pipe()
	w := NewWriter(pw)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tag := fmt.Sprintf(".tag=%d-%d", g, i)
				if err := w.WriteSentence("!re", "=g="+fmt.Sprint(g), strings.Repeat("p", 3000+i), tag); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		pw.Close()
	}()
	r := NewReader(pr)
	seen := map[string]bool{}
	for {
		s, err := r.ReadSentence()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 4 || s[0] != "!re" || !strings.HasPrefix(s[3], ".tag=") {
			t.Fatalf("garbled sentence: %d words", len(s))
		}
		seen[s[3]] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("read %d distinct sentences, want %d", len(seen), writers*each)
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  Request
		bad   bool
	}{
		{name: "command only", words: []string{"/interface/print"},
			want: Request{Command: "/interface/print"}},
		{name: "attributes in order", words: []string{"/interface/gre/add", "=name=gre1", "=remote-address=10.0.0.2", "=comment="},
			want: Request{Command: "/interface/gre/add", Attrs: []Attr{{"name", "gre1"}, {"remote-address", "10.0.0.2"}, {"comment", ""}}}},
		{name: "value holds =", words: []string{"/system/script/add", "=source=:local a=1; :put ($a=1)"},
			want: Request{Command: "/system/script/add", Attrs: []Attr{{"source", ":local a=1; :put ($a=1)"}}}},
		{name: "api attributes", words: []string{"/interface/print", ".tag=7", ".proplist=name,mtu", ".tag=8"},
			want: Request{Command: "/interface/print", API: map[string]string{".tag": "8", ".proplist": "name,mtu"}}},
		{name: "dot attribute stays an attribute", words: []string{"/interface/set", "=.id=*1B", "=disabled=yes"},
			want: Request{Command: "/interface/set", Attrs: []Attr{{".id", "*1B"}, {"disabled", "yes"}}}},
		{name: "queries", words: []string{"/ip/address/print", "?interface=ether1", "?-disabled", "?<mtu=1500", "?#|!"},
			want: Request{Command: "/ip/address/print", Queries: []string{"interface=ether1", "-disabled", "<mtu=1500", "#|!"}}},
		{name: "empty api value", words: []string{"/x", ".proplist="},
			want: Request{Command: "/x", API: map[string]string{".proplist": ""}}},
		{name: "cancel", words: []string{"/cancel", "=tag=3"},
			want: Request{Command: "/cancel", Attrs: []Attr{{"tag", "3"}}}},
		{name: "empty sentence", words: nil, bad: true},
		{name: "empty command", words: []string{""}, bad: true},
		{name: "reply word as command", words: []string{"!done"}, bad: true},
		{name: "attribute without second =", words: []string{"/x", "=name"}, bad: true},
		{name: "attribute with empty name", words: []string{"/x", "==v"}, bad: true},
		{name: "lone =", words: []string{"/x", "="}, bad: true},
		{name: "api without =", words: []string{"/x", ".tag"}, bad: true},
		{name: "api empty name", words: []string{"/x", ".=1"}, bad: true},
		{name: "empty query", words: []string{"/x", "?"}, bad: true},
		{name: "bare word", words: []string{"/x", "name=v"}, bad: true},
		{name: "second command", words: []string{"/x", "/y"}, bad: true},
		{name: "empty word", words: []string{"/x", ""}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.words)
			if tc.bad {
				if !errors.Is(err, ErrBadWord) {
					t.Fatalf("err = %v, want ErrBadWord", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
			again, err := ParseRequest(got.Words())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("reparse of %q = %#v, %v", got.Words(), again, err)
			}
		})
	}
}

func TestParseRequestClipsLongWords(t *testing.T) {
	_, err := ParseRequest([]string{"/x", strings.Repeat("z", 1<<20)})
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error not clipped: %d bytes", len(err.Error()))
	}
}

func TestRequestWords(t *testing.T) {
	req := Request{
		Command: "/ip/address/print",
		Attrs:   []Attr{{"interface", "ether1"}, {".id", "*2"}},
		API:     map[string]string{".tag": "4", ".proplist": "address"},
		Queries: []string{"disabled=false", "#!"},
	}
	want := []string{"/ip/address/print", "=interface=ether1", "=.id=*2", ".proplist=address", ".tag=4", "?disabled=false", "?#!"}
	if got := req.Words(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Words() = %q, want %q", got, want)
	}
}

func TestRequestGet(t *testing.T) {
	req, err := ParseRequest([]string{"/x/print", "=.proplist=a,b", ".tag=2", "=name=one", "=name=two"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{".proplist", "a,b", true},
		{".tag", "2", true},
		{"name", "two", true},
		{"missing", "", false},
	} {
		if v, ok := req.Get(tc.name); v != tc.want || ok != tc.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
}

// allowedReadErr reports whether err is one ReadSentence may return for
// input from a bytes.Reader, which never fails on its own.
func allowedReadErr(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF ||
		errors.Is(err, ErrBadLength) || errors.Is(err, ErrWordTooLong) ||
		errors.Is(err, ErrTooManyWords) || errors.Is(err, ErrSentenceTooLong)
}

func FuzzReadSentence(f *testing.F) {
	f.Add(EncodeSentence("/login", "=name=admin", "=password="))
	f.Add(append(EncodeSentence("!re", "=.id=*1", "=name=ether1"), EncodeSentence("!done")...))
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x01, 'a', 0})
	f.Add([]byte{0xF0, 0x00, 0x00, 0x00, 0x01, 'a', 0})
	f.Add([]byte{0xF8})
	f.Add([]byte{0xEF, 0xFF, 0xFF, 0xFF})
	for _, v := range lengthVectors {
		f.Add(v.want)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Before login a server reads with small limits: whatever the length
		// prefixes claim, reading costs in proportion to the bytes that came.
		pre := NewReader(bytes.NewReader(data))
		pre.SetLimits(4096, 16384)
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for {
			if _, err := pre.ReadSentence(); err != nil {
				break
			}
		}
		runtime.ReadMemStats(&b)
		if n := b.TotalAlloc - a.TotalAlloc; n > 8*uint64(len(data))+64<<10 {
			t.Fatalf("reading %d bytes with pre-login limits allocated %d", len(data), n)
		}
		// After login a server skips what is over its limits: the same bound, and a
		// skipped sentence keeps only words within them.
		post := NewReader(bytes.NewReader(data))
		post.SetLimits(4096, 16384)
		post.SetSkip(true)
		runtime.ReadMemStats(&a)
		for {
			words, err := post.ReadSentence()
			var se *SkippedError
			if errors.As(err, &se) {
				total := 0
				for _, w := range words {
					total += len(w)
				}
				if total > 16384 {
					t.Fatalf("a skipped sentence kept %d bytes", total)
				}
				continue
			}
			if err != nil {
				break
			}
		}
		runtime.ReadMemStats(&b)
		if n := b.TotalAlloc - a.TotalAlloc; n > 8*uint64(len(data))+64<<10 {
			t.Fatalf("reading %d bytes with skipping limits allocated %d", len(data), n)
		}
		src := bytes.NewReader(data)
		r := NewReader(src)
		var got [][]string
		for {
			s, err := r.ReadSentence()
			if err != nil {
				if !allowedReadErr(err) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && (src.Len() != 0 || r.br.Buffered() != 0) {
					t.Fatal("io.EOF with input left")
				}
				break
			}
			got = append(got, s)
		}
		// Re-encode the whole stream at once: per-sentence readers and
		// writers make inputs of many empty sentences slow enough to
		// stall the fuzzer's minimisation.
		var enc []byte
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, s := range got {
			enc = append(enc, EncodeSentence(s...)...)
			if err := w.WriteSentence(s...); err != nil {
				t.Fatalf("WriteSentence of a read sentence: %v", err)
			}
		}
		if !bytes.Equal(buf.Bytes(), enc) {
			t.Fatal("Writer and EncodeSentence disagree")
		}
		r2 := NewReader(bytes.NewReader(enc))
		for i, s := range got {
			back, err := r2.ReadSentence()
			if err != nil {
				t.Fatalf("re-read sentence %d: %v", i, err)
			}
			if !reflect.DeepEqual(back, s) {
				t.Fatalf("re-read sentence %d: %q, want %q", i, back, s)
			}
		}
		if _, err := r2.ReadSentence(); err != io.EOF {
			t.Fatalf("re-encoding left trailing data: %v", err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	// Words are separated by NUL, which keeps seeds readable and still
	// lets the fuzzer produce empty words.
	f.Add("/interface/gre/add\x00=name=gre1\x00=remote-address=10.0.0.2")
	f.Add("/ip/address/print\x00.tag=3\x00.proplist=address\x00?interface=ether1\x00?#|")
	f.Add("/interface/set\x00=.id=*1\x00=disabled=yes")
	f.Add("/x\x00=a\x00.b\x00?")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		words := strings.Split(in, "\x00")
		req, err := ParseRequest(words)
		if err != nil {
			if !errors.Is(err, ErrBadWord) {
				t.Fatalf("error %v is not ErrBadWord", err)
			}
			return
		}
		w := req.Words()
		again, err := ParseRequest(w)
		if err != nil {
			t.Fatalf("reparse %q: %v", w, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("reparse %q = %#v, want %#v", w, again, req)
		}
		if !reflect.DeepEqual(again.Words(), w) {
			t.Fatal("Words not stable")
		}
		// A parsed request always encodes to a sentence the wire accepts.
		var buf bytes.Buffer
		if err := NewWriter(&buf).WriteSentence(w...); err != nil {
			t.Fatalf("WriteSentence(%q): %v", w, err)
		}
	})
}
