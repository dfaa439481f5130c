package link

import "github.com/routerd/routerd/control/engine"

// Overlay, Extra and Hider are called with a link's RouterOS name (Names.RouterOS of its
// kernel name; the same for the short names of hidden links).

// Overlay supplies, for a link whose packets another engine handles itself (the eBPF
// tunnels: the kernel's own counters of their veth ends miss the dataplane's drops and
// its view of the tunnel), properties that replace the kernel's in /interface print:
// type and counters (rx-byte, tx-packet, tx-drop ...), and "running" (yes/no) when the
// engine decides the R flag (a tunnel's keepalive); an empty value removes the kernel's
// property (a GRE tunnel has no MAC address). ok false leaves the link alone; a
// link an overlay claims is not listed in /interface ethernet. It is called while rows
// are built and must not call back into this engine.
type Overlay func(name string) (props map[string]string, ok bool)

// Extra supplies read-only properties another engine adds to a link's row in /interface
// print without claiming the link (the fast path's fast-path of a port). It is called
// while rows are built and must not call back into this engine.
type Extra func(name string) map[string]string

// Hider reports links that are a part of another engine's implementation rather than
// interfaces of their own (the hidden veth ends of tunnels): /interface print,
// /interface ethernet print and the interface lists leave them out.
type Hider func(name string) bool

// applyOverlays lets the overlays other engines offer replace properties of the named
// link and reports whether one claimed it.
func (e *Engine) applyOverlays(name string, p map[string]string) bool {
	claimed := false
	if e.eh == nil {
		return false // not started by a host (unit tests): nothing offered
	}
	for _, fn := range engine.All[Overlay](e.eh) {
		if extra, ok := fn(name); ok {
			claimed = true
			for k, v := range extra {
				if v == "" {
					delete(p, k)
				} else {
					p[k] = v
				}
			}
		}
	}
	return claimed
}

// applyExtras adds the properties other engines offer for the named link.
func (e *Engine) applyExtras(name string, p map[string]string) {
	if e.eh == nil {
		return
	}
	for _, fn := range engine.All[Extra](e.eh) {
		for k, v := range fn(name) {
			p[k] = v
		}
	}
}

// hiddenLink reports whether a Hider another engine offers hides the named link.
func (e *Engine) hiddenLink(name string) bool {
	if e.eh == nil {
		return false
	}
	for _, h := range engine.All[Hider](e.eh) {
		if h(name) {
			return true
		}
	}
	return false
}
