package tunnel

import (
	"github.com/routerd/routerd/control/link"
)

// ifaceOverlay gives /interface print (and print stats) a tunnel's RouterOS type word
// (gre-tunnel, eoip-tunnel ...), its disabled flag, its running flag as keepalives (and
// loop protection) decide it, the l2mtu RouterOS shows for tunnels, and the eBPF
// dataplane's counters for its visible interface (counterProps says what they count).
func (e *Engine) ifaceOverlay(name string) (map[string]string, bool) {
	e.mu.Lock()
	sh, ok := e.shown[name]
	var (
		idx int
		run bool
	)
	for _, t := range e.live {
		if t.name == name {
			idx, run = t.hiddenIdx, t.running() && !e.tripped(t.hidden)
			break
		}
	}
	e.mu.Unlock()
	if !ok {
		return nil, false
	}
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	p := map[string]string{"type": sh.typ, "l2mtu": "65535", "running": yn(run && !sh.disabled), "disabled": yn(sh.disabled)}
	if sh.typ != "eoip-tunnel" {
		p["mac-address"] = "" // an L3 tunnel has none; its veth's is no address of the tunnel
	}
	if idx == 0 {
		return p, true
	}
	if s, err := e.dp.Stats(idx); err == nil {
		c := counterProps(s)
		for _, k := range []string{"rx-byte", "tx-byte", "rx-packet", "tx-packet", "rx-drop", "tx-drop"} {
			p[k] = c[k]
		}
	}
	return p, true
}

var _ link.Overlay = (*Engine)(nil).ifaceOverlay
