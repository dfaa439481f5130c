package ike

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
)

// TestModeConfigSplitDNS: a mode config responder with split-dns answers the Cisco
// Unity split DNS and default domain attributes (IKEv1) and INTERNAL_DNS_DOMAIN (IKEv2)
// when asked, beside the address, DNS server and split network; unasked, it sends
// none of them.
func TestModeConfigSplitDNS(t *testing.T) {
	mc := &ModeConfig{Responder: true, Address: netip.MustParseAddr("198.19.77.2"), PrefixLen: 32,
		Split: []netip.Prefix{netip.MustParsePrefix("198.19.101.0/24")}, DNS: []netip.Addr{netip.MustParseAddr("198.19.101.53")},
		SplitDNS: []string{"corp.example", "lab.example"}}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sa := &IKESA{d: d, peer: &PeerConfig{Name: "rw"}, ident: &IdentityConfig{ModeConfig: mc}, v1: &v1State{}}
	req := &v1CfgPayload{Type: v1CfgRequest, Attrs: []v1CfgAttr{{Type: v1CfgIP4Address}, {Type: v1CfgIP4DNS},
		{Type: v1UnitySplitIncl}, {Type: v1UnitySplitDNS}, {Type: v1UnityDefDomain}}}
	reply, err := parseV1Cfg(sa.v1GiveConfig(req).encode())
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]string{v1CfgIP4Address: "\xc6\x13\x4d\x02", v1CfgIP4DNS: "\xc6\x13\x65\x35",
		v1UnitySplitDNS: "corp.example,lab.example", v1UnityDefDomain: "corp.example"}
	for typ, v := range want {
		a, ok := reply.attr(typ)
		if !ok || string(a.Value) != v {
			t.Errorf("attribute %d = %q (present %v), want %q", typ, a.Value, ok, v)
		}
	}
	if _, ok := reply.attr(v1UnitySplitIncl); !ok {
		t.Error("no split-include")
	}
	sa.vip = netip.Addr{}
	plain, _ := parseV1Cfg(sa.v1GiveConfig(&v1CfgPayload{Type: v1CfgRequest, Attrs: []v1CfgAttr{{Type: v1CfgIP4Address}}}).encode())
	if _, ok := plain.attr(v1UnitySplitDNS); ok {
		t.Error("split DNS sent unasked")
	}
	// IKEv2: one INTERNAL_DNS_DOMAIN per domain, only when asked.
	got := cpDNSDomains(mc, &CP{CfgType: CPRequest, Attrs: []CPAttr{{Type: CPInternalIP4Address}, {Type: CPInternalDNSDomain}}})
	if len(got) != 2 || string(got[0].Value) != "corp.example" || string(got[1].Value) != "lab.example" {
		t.Errorf("INTERNAL_DNS_DOMAIN: %+v", got)
	}
	if got := cpDNSDomains(mc, &CP{CfgType: CPRequest, Attrs: []CPAttr{{Type: CPInternalIP4Address}}}); got != nil {
		t.Errorf("INTERNAL_DNS_DOMAIN unasked: %+v", got)
	}
}
