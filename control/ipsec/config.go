package ipsec

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control/value"
	"github.com/routerd/routerd/ike"
)

// ErrUnsupported reports an algorithm or method this build cannot run.
var ErrUnsupported = errors.New("not supported")

// profileEnc maps /ip ipsec profile enc-algorithm names to IKE transforms.
var profileEnc = map[string]ike.Transform{
	"3des":    {Type: ike.TransformENCR, ID: ike.EncrDES3},
	"aes-128": {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 128},
	"aes-192": {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 192},
	"aes-256": {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 256},
	// RouterOS 7 names beyond the manual's table.
	"aes-128-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 128},
	"aes-192-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 192},
	"aes-256-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 256},
	"aes-128-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 128},
	"aes-192-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 192},
	"aes-256-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 256},
	"chacha20poly1305": {Type: ike.TransformENCR, ID: ike.EncrChaCha},
}

// proposalEnc maps /ip ipsec proposal enc-algorithms names to ESP transforms.
var proposalEnc = map[string]ike.Transform{
	"null":             {Type: ike.TransformENCR, ID: ike.EncrNull},
	"3des":             {Type: ike.TransformENCR, ID: ike.EncrDES3},
	"aes-128-cbc":      {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 128},
	"aes-192-cbc":      {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 192},
	"aes-256-cbc":      {Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 256},
	"aes-128-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 128},
	"aes-192-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 192},
	"aes-256-ctr":      {Type: ike.TransformENCR, ID: ike.EncrAESCTR, KeyLen: 256},
	"aes-128-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 128},
	"aes-192-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 192},
	"aes-256-gcm":      {Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 256},
	"chacha20poly1305": {Type: ike.TransformENCR, ID: ike.EncrChaCha},
}

var hashInteg = map[string]uint16{
	"md5": ike.IntegMD596, "sha1": ike.IntegSHA196, "sha256": ike.IntegSHA256128,
	"sha384": ike.IntegSHA384192, "sha512": ike.IntegSHA512256,
}

var hashPRF = map[string]uint16{
	"md5": ike.PRFHMACMD5, "sha1": ike.PRFHMACSHA1, "sha256": ike.PRFHMACSHA256,
	"sha384": ike.PRFHMACSHA384, "sha512": ike.PRFHMACSHA512,
}

func unsupported(prop, name string, have map[string]ike.Transform) error {
	names := make([]string, 0, len(have))
	for n := range have {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("%s %s is %w by this build (it has %s)", prop, name, ErrUnsupported, strings.Join(names, ", "))
}

func list(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// checkProfile refuses algorithms the build cannot provide (add and set).
func checkProfile(props map[string]string) error {
	return checkProfileAlgs(list(props["enc-algorithm"]), props["hash-algorithm"], list(props["dh-group"]), props["ppk"])
}

// checkProfileAlgs refuses what the build cannot provide. A post-quantum preshared key
// (RFC 9867) is refused, not stored and ignored: a profile claiming PPK protection must
// not set up SAs without it.
func checkProfileAlgs(enc []string, hash string, dh []string, ppk string) error {
	if ppk != "" && ppk != "no" {
		return fmt.Errorf("ppk=%s is %w: post-quantum preshared keys (RFC 9867) are not implemented here, only ppk=no", ppk, ErrUnsupported)
	}
	for _, n := range enc {
		if _, ok := profileEnc[n]; !ok {
			return unsupported("enc-algorithm", n, profileEnc)
		}
	}
	if hash != "" {
		if _, ok := hashInteg[hash]; !ok {
			return fmt.Errorf("hash-algorithm %s is %w", hash, ErrUnsupported)
		}
	}
	for _, g := range dh {
		if id, ok := ike.DHByName(g); !ok || !ike.DHSupported(id) {
			return fmt.Errorf("dh-group %s is %w by this build", g, ErrUnsupported)
		}
	}
	return nil
}

// checkPolicy refuses AH (add and set): routerd's data paths carry ESP only, and a
// policy asking for AH must not be applied as if it were ESP.
func checkPolicy(props map[string]string) error {
	for _, p := range list(props["ipsec-protocols"]) {
		if p != "esp" {
			return fmt.Errorf("ipsec-protocols %s is %w by this build (it has esp)", p, ErrUnsupported)
		}
	}
	return nil
}

// checkProposal refuses algorithms the build cannot provide (add and set).
func checkProposal(props map[string]string) error {
	return checkProposalAlgs(list(props["enc-algorithms"]), list(props["auth-algorithms"]), props["pfs-group"])
}

func checkProposalAlgs(enc, auth []string, pfs string) error {
	for _, n := range enc {
		if _, ok := proposalEnc[n]; !ok {
			return unsupported("enc-algorithms", n, proposalEnc)
		}
	}
	for _, a := range auth {
		if _, ok := hashInteg[a]; !ok && a != "null" {
			return fmt.Errorf("auth-algorithms %s is %w by this build", a, ErrUnsupported)
		}
	}
	if pfs != "" && pfs != "none" {
		if id, ok := ike.DHByName(pfs); !ok || !ike.DHSupported(id) {
			return fmt.Errorf("pfs-group %s is %w by this build", pfs, ErrUnsupported)
		}
	}
	return nil
}

// profile is a decoded /ip ipsec profile.
type profile struct {
	proposals     []ike.Proposal // IKE SA proposals: one per cipher kind (AEAD or not)
	lifetime      time.Duration
	dpd           time.Duration
	dpdMax        int
	natT          bool
	proposalCheck string
	lifebytes     uint64 // IKEv1 Phase 1 proposals carry it
}

// exchangeModes maps a peer's exchange-mode to the daemon's: IKEv2 or an IKEv1 Phase 1
// exchange (RFC 2409 main and aggressive, RFC 2408 base).
var exchangeModes = map[string]ike.ExchangeMode{
	"ike2": ike.ExchangeIKEv2, "main": ike.ExchangeMain, "aggressive": ike.ExchangeAggressive, "base": ike.ExchangeBase,
}

func decodeProfile(p profileItem) (*profile, error) {
	if err := checkProfileAlgs(p.EncAlgorithm, p.HashAlgorithm, p.DHGroup, p.PPK); err != nil {
		return nil, err
	}
	pr := &profile{natT: p.NATTraversal, proposalCheck: p.ProposalCheck, dpdMax: p.DPDMax,
		lifetime: p.Lifetime, lifebytes: p.Lifebytes}
	// AEAD ciphers take no integrity transform, so a profile that lists both kinds offers
	// two proposals, one per kind, in the order the operator listed them (RFC 7296 3.3:
	// INTEG in a proposal with an AEAD cipher makes the whole proposal unacceptable to
	// strict peers, and one mixed proposal lets a peer pick GCM without an INTEG that we
	// would then refuse as "not offered").
	prf := p.PRFAlgorithm
	if prf == "" || prf == "auto" {
		prf = p.HashAlgorithm
	}
	var dh []ike.Transform
	for _, g := range p.DHGroup {
		id, _ := ike.DHByName(g)
		dh = append(dh, ike.Transform{Type: ike.TransformDH, ID: id})
	}
	var aeadT, plainT []ike.Transform
	aeadFirst := false
	for i, n := range p.EncAlgorithm {
		t := profileEnc[n]
		if e := ike.Encr(t.ID); e != nil && e.AEAD() {
			aeadT = append(aeadT, t)
			aeadFirst = aeadFirst || i == 0
		} else {
			plainT = append(plainT, t)
		}
	}
	prfT := ike.Transform{Type: ike.TransformPRF, ID: hashPRF[prf]}
	var props []ike.Proposal
	if len(aeadT) > 0 {
		ts := append(append(aeadT, prfT), dh...)
		props = append(props, ike.Proposal{Protocol: ike.ProtoIKE, Transforms: ts})
	}
	if len(plainT) > 0 {
		ts := append(append(plainT, prfT, ike.Transform{Type: ike.TransformINTEG, ID: hashInteg[p.HashAlgorithm]}), dh...)
		plain := ike.Proposal{Protocol: ike.ProtoIKE, Transforms: ts}
		if aeadFirst {
			props = append(props, plain)
		} else {
			props = append([]ike.Proposal{plain}, props...)
		}
	}
	for i := range props {
		props[i].Num = uint8(i + 1)
	}
	pr.proposals = props
	if d := p.DPDInterval; d != "disable-dpd" {
		var err error
		if pr.dpd, err = parseDur(d); err != nil {
			return nil, fmt.Errorf("dpd-interval: %w", err)
		}
	}
	return pr, nil
}

// espProposal decodes a /ip ipsec proposal; AEAD ciphers go in a proposal of their own
// (they take no integrity transform), as strongSwan and RouterOS send them.
func espProposal(p proposalItem) ([]ike.Proposal, time.Duration, error) {
	if err := checkProposalAlgs(p.EncAlgorithms, p.AuthAlgorithms, p.PFSGroup); err != nil {
		return nil, 0, err
	}
	var aeadT, plainT []ike.Transform
	for _, n := range p.EncAlgorithms {
		t := proposalEnc[n]
		if e := ike.Encr(t.ID); e != nil && e.AEAD() {
			aeadT = append(aeadT, t)
		} else {
			plainT = append(plainT, t)
		}
	}
	var dh []ike.Transform
	if g := p.PFSGroup; g != "" && g != "none" {
		id, _ := ike.DHByName(g)
		dh = []ike.Transform{{Type: ike.TransformDH, ID: id}}
	}
	esn := ike.Transform{Type: ike.TransformESN, ID: 0}
	var out []ike.Proposal
	if len(aeadT) > 0 {
		ts := append(append(append([]ike.Transform{}, aeadT...), dh...), esn)
		out = append(out, ike.Proposal{Protocol: ike.ProtoESP, Transforms: ts})
	}
	if len(plainT) > 0 {
		ts := append([]ike.Transform{}, plainT...)
		for _, a := range p.AuthAlgorithms {
			if a == "null" {
				ts = append(ts, ike.Transform{Type: ike.TransformINTEG, ID: ike.IntegNone})
				continue
			}
			ts = append(ts, ike.Transform{Type: ike.TransformINTEG, ID: hashInteg[a]})
		}
		ts = append(append(ts, dh...), esn)
		out = append(out, ike.Proposal{Protocol: ike.ProtoESP, Transforms: ts})
	}
	for i := range out {
		out[i].Num = uint8(i + 1)
	}
	return out, p.Lifetime, nil
}

// parseDur reads a RouterOS duration; empty is zero.
func parseDur(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return value.ParseDuration(s)
}

// idSpec decodes my-id / remote-id.
func idSpec(v string) (ike.IDSpec, error) {
	switch v {
	case "", "auto":
		return ike.IDSpec{Auto: true}, nil
	case "ignore":
		return ike.IDSpec{Ignore: true}, nil
	}
	if dn, ok := strings.CutPrefix(v, "dn:"); ok {
		if _, err := ike.ParseDN(dn); err != nil {
			return ike.IDSpec{}, fmt.Errorf("identity %q: %w", v, err)
		}
	}
	id, ok := ike.ParseIdentity(v)
	if !ok {
		return ike.IDSpec{}, fmt.Errorf("identity %q is %w", v, ErrUnsupported)
	}
	return ike.IDSpec{ID: id}, nil
}

// secret decodes a pre-shared secret; 0x-prefixed is hexadecimal.
func secret(v string) ([]byte, error) {
	if strings.HasPrefix(v, "0x") || strings.HasPrefix(v, "0X") {
		b, err := hex.DecodeString(v[2:])
		if err != nil {
			return nil, errors.New("secret: bad hexadecimal value")
		}
		return b, nil
	}
	return []byte(v), nil
}

var protoNums = map[string]uint8{
	"all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6-encap": 41,
	"rsvp": 46, "gre": 47, "ipsec-esp": 50, "ipsec-ah": 51, "icmpv6": 58, "ospf": 89, "pim": 103,
	"vrrp": 112, "l2tp": 115, "sctp": 132, "udp-lite": 136, "etherip": 97, "encap": 98, "ipip": 94,
	"ddp": 37, "ggp": 3, "hmp": 20, "idpr-cmtp": 38, "ipv6": 41, "ipv6-frag": 44, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "ipv6-route": 43, "iso-tp4": 29, "pup": 12, "rdp": 27, "rspf": 73, "st": 5,
	"vmtp": 81, "xns-idp": 22, "xtp": 36, "dccp": 33,
}

// protoNumber is an IP protocol by name or number.
func protoNumber(v string) (uint8, error) {
	if n, ok := protoNums[v]; ok {
		return n, nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("protocol %q is not a protocol name or number", v)
	}
	return uint8(n), nil
}

// portNumber is a policy port: any (or unset) is 0.
func portNumber(prop, v string) (uint16, error) {
	if v == "" || v == "any" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not any or a port number", prop, v)
	}
	return uint16(n), nil
}

func prefix(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(v)
}
