package ike

// CPInternalDNSDomain is INTERNAL_DNS_DOMAIN (RFC 8598 4): a domain whose names the
// peer resolves with the DNS servers mode config gave it.
const CPInternalDNSDomain = 25

// cpDNSDomains answers a configuration request that asks for INTERNAL_DNS_DOMAIN with
// one attribute per split-dns domain (RouterOS answers, as responder only).
func cpDNSDomains(mc *ModeConfig, req *CP) []CPAttr {
	if mc == nil || len(mc.SplitDNS) == 0 {
		return nil
	}
	asked := false
	for _, a := range req.Attrs {
		if a.Type == CPInternalDNSDomain {
			asked = true
		}
	}
	if !asked {
		return nil
	}
	var out []CPAttr
	for _, d := range mc.SplitDNS {
		out = append(out, CPAttr{Type: CPInternalDNSDomain, Value: []byte(d)})
	}
	return out
}
