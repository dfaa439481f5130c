package tftp

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want *Packet
	}{
		{"rrq", "\x00\x01file.txt\x00octet\x00", &Packet{Op: opRRQ, Filename: "file.txt", Mode: "octet"}},
		{"rrq options", "\x00\x01a\x00NetASCII\x00BLKSIZE\x008192\x00tsize\x000\x00",
			&Packet{Op: opRRQ, Filename: "a", Mode: "netascii",
				Options: map[string]string{"blksize": "8192", "tsize": "0"}, OptionOrder: []string{"blksize", "tsize"}}},
		{"wrq", "\x00\x02up/x\x00octet\x00", &Packet{Op: opWRQ, Filename: "up/x", Mode: "octet"}},
		{"data", "\x00\x03\x01\x02abc", &Packet{Op: opDATA, Block: 0x0102, Data: []byte("abc")}},
		{"empty data", "\x00\x03\x00\x07", &Packet{Op: opDATA, Block: 7, Data: []byte{}}},
		{"ack", "\x00\x04\xff\xff", &Packet{Op: opACK, Block: 0xffff}},
		{"error", "\x00\x05\x00\x08no\x00", &Packet{Op: opERROR, Code: 8, Msg: "no"}},
		{"error without nul", "\x00\x05\x00\x01gone", &Packet{Op: opERROR, Code: 1, Msg: "gone"}},
		{"oack", "\x00\x06blksize\x001024\x00", &Packet{Op: opOACK,
			Options: map[string]string{"blksize": "1024"}, OptionOrder: []string{"blksize"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got.Op != tc.want.Op || got.Filename != tc.want.Filename || got.Mode != tc.want.Mode ||
				got.Block != tc.want.Block || !bytes.Equal(got.Data, tc.want.Data) ||
				got.Code != tc.want.Code || got.Msg != tc.want.Msg ||
				!maps.Equal(got.Options, tc.want.Options) || !slices.Equal(got.OptionOrder, tc.want.OptionOrder) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"\x00",
		"\x00\x00",                          // no opcode 0
		"\x00\x07abc",                       // unknown opcode
		"\x00\x01file\x00octet",             // mode not terminated
		"\x00\x01file\x00",                  // no mode
		"\x00\x01\x00octet\x00",             // empty file name
		"\x00\x01f\x00octet\x00blksize\x00", // option without value
		"\x00\x01f\x00octet\x00\x00512\x00", // empty option name
		"\x00\x01f\x00octet\x00tsize\x000\x00TSIZE\x001\x00", // duplicate option
		"\x00\x03\x00",         // short DATA
		"\x00\x04\x00\x01\x00", // long ACK
		"\x00\x05\x00",         // short ERROR
		"\x00\x01f\x00octet\x00" + strings.Repeat("a\x001\x00", maxOptions+1),
	} {
		if p, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrMalformed", in, p, err)
		}
	}
}

// FuzzParse checks that no input panics the parser and that a parsed request encodes
// back to bytes that parse to the same request.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"\x00\x01file.txt\x00octet\x00",
		"\x00\x01a\x00netascii\x00blksize\x008192\x00tsize\x000\x00windowsize\x008\x00",
		"\x00\x02up\x00octet\x00tsize\x0012\x00",
		"\x00\x03\x00\x01data", "\x00\x04\x00\x01", "\x00\x05\x00\x01x\x00", "\x00\x06blksize\x00512\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if p.Op != opRRQ && p.Op != opWRQ {
			return
		}
		if strings.ContainsRune(p.Filename, 0) || p.Filename == "" {
			t.Fatalf("file name %q", p.Filename)
		}
		again, err := Parse(appendRequest(nil, p.Op, p.Filename, p.Mode, p.OptionOrder, p.Options))
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if again.Filename != p.Filename || again.Mode != p.Mode || !maps.Equal(again.Options, p.Options) ||
			!slices.Equal(again.OptionOrder, p.OptionOrder) {
			t.Fatalf("round trip: %+v != %+v", again, p)
		}
	})
}

func TestNetasciiRoundTrip(t *testing.T) {
	for _, in := range []string{"", "a\nb\r\nc\rd\r", "\r\r\n\n", strings.Repeat("x\n", 1000)} {
		var wire bytes.Buffer
		if _, err := wire.ReadFrom(newNetasciiReader(strings.NewReader(in))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(wire.String(), "\r\n", ""), "\r\x00", ""), "\r") {
			t.Fatalf("%q: bare CR on the wire: %q", in, wire.String())
		}
		// Feed the writer in 3-byte pieces so CR pairs split across blocks.
		var out bytes.Buffer
		w := newNetasciiWriter(&out)
		for b := wire.Bytes(); len(b) > 0; {
			n := min(3, len(b))
			w.Write(b[:n])
			b = b[n:]
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != in {
			t.Fatalf("round trip of %q gave %q", in, out.String())
		}
	}
}

// FuzzNetascii checks that any file survives netascii encoding and decoding, with the
// wire bytes split at arbitrary block boundaries, and that decoding arbitrary wire bytes
// never fails.
func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\rd\r"), uint8(3))
	f.Add([]byte("\r\x00\r\n\r"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		n := max(int(split), 1)
		var wire bytes.Buffer
		if _, err := wire.ReadFrom(newNetasciiReader(bytes.NewReader(in))); err != nil {
			t.Fatal(err)
		}
		for i, src := range [][]byte{wire.Bytes(), in} {
			var out bytes.Buffer
			w := newNetasciiWriter(&out)
			for b := src; len(b) > 0; {
				k := min(n, len(b))
				if _, err := w.Write(b[:k]); err != nil {
					t.Fatal(err)
				}
				b = b[k:]
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if i == 0 && !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("round trip of %q gave %q", in, out.Bytes())
			}
		}
	})
}
