package store

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
	"unicode/utf8"
)

// FuzzRecordCodec: the hand-written encoding of records is encoding/json's, byte for
// byte, and reads back what it wrote; decodeRecord reads anything encoding/json wrote
// (with or without the plain path) to the same record.
func FuzzRecordCodec(f *testing.F) {
	f.Add(uint64(1<<20), "chain", "forward", "comment", "a b", "")
	f.Add(uint64(0), "src-address", "10.0.0.0/24", "comment", `x"<&>\`, "")
	f.Add(uint64(7), "name", "\xe7a", "comment", "\u2028", "k")
	f.Add(uint64(1<<63), "", "", "a", "\x7f\x01", "b")
	f.Fuzz(func(t *testing.T, pos uint64, k1, v1, k2, v2, k3 string) {
		for _, props := range []map[string]string{nil, {}, {k1: v1}, {k1: v1, k2: v2}, {k1: v1, k2: v2, k3: v1 + v2}} {
			r := record{Pos: pos, Props: props}
			got, err := r.encode()
			if err != nil {
				t.Fatal(err)
			}
			// What encoding/json writes for the same record (encode's Raw split).
			want, err := json.Marshal(splitRaw(r))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode(%q):\n got %s\nwant %s", props, got, want)
			}
			if !utf8.ValidString(k1) || !utf8.ValidString(k2) || !utf8.ValidString(k3) {
				continue // property names are never other bytes; JSON keys cannot carry them
			}
			back, err := decodeRecord(got)
			if err != nil {
				t.Fatalf("decode %s: %v", got, err)
			}
			if back.Pos != pos || !maps.Equal(back.Props, props) || (props == nil) != (back.Props == nil) {
				t.Fatalf("%s read back as %d %q, want %d %q", got, back.Pos, back.Props, pos, props)
			}
		}
	})
}

// splitRaw is encode's move of values that are not UTF-8 into Raw, done apart.
func splitRaw(r record) record {
	out := record{Pos: r.Pos, Props: r.Props}
	for k, v := range r.Props {
		if !utf8.ValidString(v) {
			if out.Raw == nil {
				out.Raw = map[string][]byte{}
				out.Props = maps.Clone(r.Props)
			}
			out.Raw[k] = []byte(v)
			delete(out.Props, k)
		}
	}
	return out
}

// TestDecodePlainRefuses: what the plain reader does not take goes to encoding/json.
func TestDecodePlainRefuses(t *testing.T) {
	for _, v := range []string{
		`{"p":1,"v":{}}`, `{"p":1,"v":null}`, `{"p":01,"v":{"a":"b"}}`, `{"p":1,"v":{"a":"\u0041"}}`,
		`{"p":1,"v":{"a":"b"},"b":{"c":"5w=="}}`, `{"v":{"a":"b"},"p":1}`, `{"p":1,"v":{"a":"b"}} `,
		`{"p":18446744073709551616,"v":{"a":"b"}}`, `{"p":1,"v":{"a":"b",}}`, `{"p":1,"v":{"a":"é"}}`,
	} {
		if r, ok := decodePlain([]byte(v)); ok {
			t.Errorf("decodePlain(%s) = %v, want it left to encoding/json", v, r)
		}
	}
	r, ok := decodePlain([]byte(`{"p":1048576,"v":{"action":"drop","chain":"forward"}}`))
	if !ok || r.Pos != 1<<20 || !maps.Equal(r.Props, map[string]string{"action": "drop", "chain": "forward"}) {
		t.Fatalf("decodePlain = %v %v", r, ok)
	}
}

// BenchmarkRecordCodec: a firewall rule's record written and read by the hand-written
// path beside encoding/json, in the same run.
func BenchmarkRecordCodec(b *testing.B) {
	r := record{Pos: 5 << 20, Props: map[string]string{"chain": "forward", "action": "drop",
		"src-address": "10.1.2.0/24", "protocol": "tcp", "dst-port": "1234", "comment": "from the import"}}
	raw, _ := json.Marshal(r)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.encode()
		}
	})
	b.Run("encode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeRecord(raw)
		}
	})
	b.Run("decode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out record
			json.Unmarshal(raw, &out)
		}
	})
}
