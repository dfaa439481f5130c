package store

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The stored form of an item is the JSON of record, as encoding/json writes it. Every
// command writes one and every pass of an engine reads the items that changed, so the
// common case (values of printable ASCII without `"`, `\`, `<`, `>` or `&`) is written
// and read here by hand, byte for byte what encoding/json writes and reads; anything
// else goes through encoding/json. In a 10,000-line import encoding/json's reflection
// was a tenth of the console's CPU time. FuzzRecordCodec holds the two to the same
// bytes and values.

// encode returns r as stored.
func (r record) encode() ([]byte, error) {
	for k, v := range r.Props {
		if utf8.ValidString(v) {
			continue
		}
		if r.Raw == nil {
			r.Raw = map[string][]byte{}
			r.Props = maps.Clone(r.Props)
		}
		r.Raw[k] = []byte(v)
		delete(r.Props, k)
	}
	if b, ok := r.appendPlain(nil); ok {
		return b, nil
	}
	return json.Marshal(r)
}

// appendPlain appends r as encoding/json writes it when every key and value is plain
// (plainJSON) and Raw is empty; ok is false otherwise.
func (r record) appendPlain(b []byte) (_ []byte, ok bool) {
	if len(r.Raw) > 0 {
		return nil, false
	}
	if r.Props == nil {
		b = append(b, `{"p":`...)
		b = strconv.AppendUint(b, r.Pos, 10)
		return append(b, `,"v":null}`...), true
	}
	keys := make([]string, 0, len(r.Props))
	n := 32
	for k, v := range r.Props {
		if !plainJSON(k) || !plainJSON(v) {
			return nil, false
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	if b == nil {
		b = make([]byte, 0, n)
	}
	b = append(b, `{"p":`...)
	b = strconv.AppendUint(b, r.Pos, 10)
	b = append(b, `,"v":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":"`...)
		b = append(b, r.Props[k]...)
		b = append(b, '"')
	}
	return append(b, "}}"...), true
}

// plainJSON reports whether encoding/json writes s as it is between quotes, and reads
// it back unchanged: printable ASCII without the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

func plainByte(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// decodeRecord is encode's inverse.
func decodeRecord(v []byte) (record, error) {
	if r, ok := decodePlain(v); ok {
		return r, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return r, err
	}
	if len(r.Raw) > 0 {
		if r.Props == nil {
			r.Props = map[string]string{}
		}
		for k, b := range r.Raw {
			r.Props[k] = string(b)
		}
		r.Raw = nil
	}
	return r, nil
}

// decodePlain reads what appendPlain writes with at least one property; ok is false
// for anything else, which encoding/json reads.
func decodePlain(v []byte) (record, bool) {
	const head = `{"p":`
	if len(v) < len(head) || string(v[:len(head)]) != head {
		return record{}, false
	}
	i := len(head)
	start := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == start || (v[start] == '0' && i-start > 1) {
		return record{}, false
	}
	pos, err := strconv.ParseUint(string(v[start:i]), 10, 64)
	if err != nil {
		return record{}, false
	}
	const mid = `,"v":{`
	if len(v)-i < len(mid) || string(v[i:i+len(mid)]) != mid {
		return record{}, false
	}
	i += len(mid)
	// A map of the properties' number: each has one `":"`, which plain text cannot hold.
	props := make(map[string]string, bytes.Count(v[i:], []byte(`":"`)))
	all := string(v) // the keys and values are substrings of one copy
	str := func() (string, bool) {
		if i >= len(v) || v[i] != '"' {
			return "", false
		}
		i++
		s := i
		for i < len(v) && v[i] != '"' {
			if !plainByte(v[i]) {
				return "", false
			}
			i++
		}
		if i >= len(v) {
			return "", false
		}
		i++
		return all[s : i-1], true
	}
	for {
		k, ok := str()
		if !ok || i >= len(v) || v[i] != ':' {
			return record{}, false
		}
		i++
		val, ok := str()
		if !ok || i >= len(v) {
			return record{}, false
		}
		props[k] = val
		if v[i] == ',' {
			i++
			continue
		}
		if string(v[i:]) != "}}" {
			return record{}, false
		}
		return record{Pos: pos, Props: props}, true
	}
}
