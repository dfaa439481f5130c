package ike

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// dn: identities (ID_DER_ASN1_DN, RFC 7296 3.5): RouterOS's my-id/remote-id=dn: take the
// distinguished name as text, most specific first as certificates print it
// ("CN=rw-client1,O=Example,C=LV"; RFC 4514, commas inside a value escaped with \).
// It travels as the DER of the name; two DNs match when they name the same attributes
// in the same order, whichever string types encode them.

// dnAttrs are the attribute names RouterOS's /certificate uses, and their OIDs.
var dnAttrs = map[string]asn1.ObjectIdentifier{
	"CN": {2, 5, 4, 3}, "SN": {2, 5, 4, 4}, "SERIALNUMBER": {2, 5, 4, 5}, "C": {2, 5, 4, 6},
	"L": {2, 5, 4, 7}, "ST": {2, 5, 4, 8}, "S": {2, 5, 4, 8}, "STREET": {2, 5, 4, 9}, "O": {2, 5, 4, 10},
	"OU": {2, 5, 4, 11}, "T": {2, 5, 4, 12}, "TITLE": {2, 5, 4, 12},
	"E": {1, 2, 840, 113549, 1, 9, 1}, "EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"DC": {0, 9, 2342, 19200300, 100, 1, 25}, "UID": {0, 9, 2342, 19200300, 100, 1, 1},
}

// ParseDN encodes a textual distinguished name as DER.
func ParseDN(s string) ([]byte, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',' || s[i] == '/':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	var seq pkix.RDNSequence
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		oid, known := dnAttrs[strings.ToUpper(strings.TrimSpace(k))]
		if !ok || !known || v == "" {
			return nil, fmt.Errorf("dn: %q is not ATTRIBUTE=value with a known attribute (CN, O, OU, C, L, ST, E, DC, ...)", p)
		}
		// Most specific first in text; the DER sequence starts with the least specific.
		seq = append(pkix.RDNSequence{{{Type: oid, Value: strings.TrimSpace(v)}}}, seq...)
	}
	if len(seq) == 0 {
		return nil, errors.New("dn: empty distinguished name")
	}
	return asn1.Marshal(seq)
}

// dnNormal is the comparable form of a DER distinguished name ("" when it does not parse).
func dnNormal(der []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
		return ""
	}
	var b strings.Builder
	for _, rdn := range seq {
		for _, a := range rdn {
			fmt.Fprintf(&b, "%s=%v;", a.Type, a.Value)
		}
		b.WriteByte('/')
	}
	return strings.ToLower(b.String())
}

// dnEqual reports whether a and b are DN identities naming the same subject.
func dnEqual(a, b Identity) bool {
	if a.Type != IDDERASNDN || b.Type != IDDERASNDN {
		return false
	}
	na := dnNormal(a.Data)
	return na != "" && na == dnNormal(b.Data)
}
