package node

import (
	"fmt"

	"github.com/routerd/routerd/ptp/bmca"
	"github.com/routerd/routerd/ptp/ts"
)

// DelayMode is the delay mechanism.
type DelayMode string

// Delay mechanisms.
const (
	E2E DelayMode = "e2e"
	P2P DelayMode = "p2p"
)

// Profile holds a profile's defaults: the auto values of the RouterOS reference and the
// message intervals of each standard (log2 seconds).
type Profile struct {
	Name                   string
	Priority1, Priority2   uint8
	Domain                 uint8
	Transport              ts.Mode
	Delay                  DelayMode
	LogAnnounce            int8
	LogSync                int8
	LogMinDelayReq         int8
	LogMinPdelayReq        int8
	AnnounceReceiptTimeout uint8
	// TransportSpecific is majorSdoId: 1 for 802.1AS.
	TransportSpecific uint8
	// ClockClass of a free-running clock under the profile.
	ClockClass uint8
	Compare    bmca.Comparison
	// Gptp: Announce carries the path trace TLV and Follow_Up the Follow_Up information
	// TLV (802.1AS).
	Gptp bool
}

// Profiles by the menu's names.
var Profiles = map[string]Profile{
	// IEEE 1588-2008 Annex J.3 (delay request-response default profile).
	"default": {Name: "default", Priority1: 128, Priority2: 128, Domain: 0, Transport: ts.UDPv4, Delay: E2E,
		LogAnnounce: 1, LogSync: 0, LogMinDelayReq: 0, LogMinPdelayReq: 0, AnnounceReceiptTimeout: 3,
		ClockClass: 248, Compare: bmca.Compare},
	// IEEE 802.1AS-2011: 1 s announce, 125 ms sync, 1 s Pdelay (clause 10.6.2, 11.5.2).
	"802.1as": {Name: "802.1as", Priority1: 246, Priority2: 248, Domain: 0, Transport: ts.L2NonForwarding, Delay: P2P,
		LogAnnounce: 0, LogSync: -3, LogMinDelayReq: 0, LogMinPdelayReq: 0, AnnounceReceiptTimeout: 3,
		TransportSpecific: 1, ClockClass: 248, Compare: bmca.Compare8021AS, Gptp: true},
	// AES67-2018 Annex A (media profile): 2 s announce, 125 ms sync.
	"aes67": {Name: "aes67", Priority1: 128, Priority2: 128, Domain: 0, Transport: ts.UDPv4, Delay: E2E,
		LogAnnounce: 1, LogSync: -3, LogMinDelayReq: -3, LogMinPdelayReq: 0, AnnounceReceiptTimeout: 3,
		ClockClass: 248, Compare: bmca.Compare},
	// ITU-T G.8275.1 clause 6.2.8: 8 Announce/s, 16 Sync and Delay_Req/s; alternate BMCA.
	"g8275.1": {Name: "g8275.1", Priority1: 128, Priority2: 128, Domain: 24, Transport: ts.L2NonForwarding, Delay: E2E,
		LogAnnounce: -3, LogSync: -4, LogMinDelayReq: -4, LogMinPdelayReq: 0, AnnounceReceiptTimeout: 3,
		ClockClass: 248, Compare: bmca.CompareG82751},
	// SMPTE ST 2059-2: 250 ms announce, 125 ms sync and Delay_Req.
	"smpte": {Name: "smpte", Priority1: 128, Priority2: 128, Domain: 127, Transport: ts.UDPv4, Delay: E2E,
		LogAnnounce: -2, LogSync: -3, LogMinDelayReq: -3, LogMinPdelayReq: 0, AnnounceReceiptTimeout: 3,
		ClockClass: 248, Compare: bmca.Compare},
}

// Settings are the menu's values; nil pointers are auto.
type Settings struct {
	Profile              string
	Priority1, Priority2 *uint8
	Domain               *uint8
	Transport            *ts.Mode
	Delay                *DelayMode
}

// Resolve applies the profile's auto values; explicit values override them.
func Resolve(s Settings) (Profile, error) {
	name := s.Profile
	if name == "" {
		name = "default"
	}
	p, ok := Profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("unknown PTP profile %q", name)
	}
	if s.Priority1 != nil {
		p.Priority1 = *s.Priority1
	}
	if s.Priority2 != nil {
		p.Priority2 = *s.Priority2
	}
	if s.Domain != nil {
		p.Domain = *s.Domain
	}
	if s.Transport != nil {
		p.Transport = *s.Transport
	}
	if s.Delay != nil {
		p.Delay = *s.Delay
	}
	return p, nil
}
