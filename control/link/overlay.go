package link

import "sync"

// Overlay supplies, for a link whose packets another engine handles itself (the eBPF
// tunnels: the kernel's own counters of their veth ends miss the dataplane's drops and
// its view of the tunnel), properties that replace the kernel's in /interface print:
// type and counters (rx-byte, tx-packet, tx-drop ...), and "running" (yes/no) when the
// engine decides the R flag (a tunnel's keepalive); an empty value removes the kernel's
// property (a GRE tunnel has no MAC address). ok false leaves the link alone; a
// link an overlay claims is not listed in /interface ethernet. It is called while rows
// are built and must not call back into this engine.
type Overlay func(name string) (props map[string]string, ok bool)

// Hider reports links that are a part of another engine's implementation rather than
// interfaces of their own (the hidden veth ends of tunnels): /interface print,
// /interface ethernet print and the interface lists leave them out.
type Hider func(name string) bool

var overlays struct {
	sync.RWMutex
	fns    []Overlay
	hiders []Hider
}

// RegisterOverlay adds an Overlay for every /interface print from now on.
func RegisterOverlay(fn Overlay) {
	overlays.Lock()
	overlays.fns = append(overlays.fns, fn)
	overlays.Unlock()
}

// RegisterHider adds a Hider for every /interface print from now on.
func RegisterHider(fn Hider) {
	overlays.Lock()
	overlays.hiders = append(overlays.hiders, fn)
	overlays.Unlock()
}

// applyOverlays lets the registered overlays replace properties of the named link and
// reports whether one claimed it.
func applyOverlays(name string, p map[string]string) bool {
	overlays.RLock()
	fns := overlays.fns
	overlays.RUnlock()
	claimed := false
	for _, fn := range fns {
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

// hiddenLink reports whether a registered Hider hides the named link.
func hiddenLink(name string) bool {
	overlays.RLock()
	hs := overlays.hiders
	overlays.RUnlock()
	for _, h := range hs {
		if h(name) {
			return true
		}
	}
	return false
}
