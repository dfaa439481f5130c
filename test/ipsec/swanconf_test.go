package ipsec_test

import (
	"fmt"
	"strings"
)

// swanPSK is a swanctl.conf of one IKEv2 connection with a pre-shared key between
// charon (id s.example) and routerd (id r.example), the shape most tests here give
// charon; the fields say what differs.
type swanPSK struct {
	name          string // the connection's name; "r" when empty
	local, remote string // local_addrs, remote_addrs
	proposals     string // "aes128-sha256-ecp256" when empty
	// extra are more settings of the connection ("pools = p", "vips = 0.0.0.0").
	extra    []string
	children []swanChild
	// sections are more top-level sections ("pools { ... }").
	sections string
	// id, remoteID and psk replace s.example, r.example and a-long-test-psk; remoteID
	// "%any" takes any ID from routerd.
	id, remoteID, psk string
}

// swanChild is one CHILD_SA of a swanPSK connection.
type swanChild struct {
	name              string
	localTS, remoteTS string // left out when empty
	esp               string // esp_proposals
	// extra are more settings ("mode = transport", "rand_time = 0s").
	extra []string
}

// String is the swanctl.conf text. dpd_delay = 0 is swanctl's default, written out as
// the tests always did.
func (c swanPSK) String() string {
	var b strings.Builder
	name, proposals := c.name, c.proposals
	if name == "" {
		name = "r"
	}
	id, rid, psk := c.id, c.remoteID, c.psk
	if id == "" {
		id = "s.example"
	}
	if rid == "" {
		rid = "r.example"
	}
	if psk == "" {
		psk = "a-long-test-psk"
	}
	if proposals == "" {
		proposals = "aes128-sha256-ecp256"
	}
	fmt.Fprintf(&b, "connections {\n  %s {\n    version = 2\n    local_addrs = %s\n    remote_addrs = %s\n    proposals = %s\n    dpd_delay = 0\n",
		name, c.local, c.remote, proposals)
	for _, l := range c.extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, "    local { auth = psk\n            id = %s }\n    remote { auth = psk\n             id = %s }\n    children {\n", id, rid)
	for _, ch := range c.children {
		fmt.Fprintf(&b, "      %s {\n", ch.name)
		if ch.localTS != "" {
			fmt.Fprintf(&b, "        local_ts = %s\n", ch.localTS)
		}
		if ch.remoteTS != "" {
			fmt.Fprintf(&b, "        remote_ts = %s\n", ch.remoteTS)
		}
		fmt.Fprintf(&b, "        esp_proposals = %s\n", ch.esp)
		for _, l := range ch.extra {
			fmt.Fprintf(&b, "        %s\n", l)
		}
		b.WriteString("      }\n")
	}
	b.WriteString("    }\n  }\n}\n")
	b.WriteString(c.sections)
	if rid == "%any" {
		fmt.Fprintf(&b, "secrets {\n  ike-1 { id-a = %s\n          secret = \"%s\" }\n}\n", id, psk)
	} else {
		fmt.Fprintf(&b, "secrets {\n  ike-1 { id-a = %s\n          id-b = %s\n          secret = \"%s\" }\n}\n", id, rid, psk)
	}
	return b.String()
}
