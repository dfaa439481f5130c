package link

import "sync"

// Overlay supplies, for a link whose packets another engine handles itself (the eBPF
// tunnels: the kernel's own counters of their veth ends miss the dataplane's drops and
// its view of the tunnel), properties that replace the kernel's in /interface print:
// type and counters (rx-byte, tx-packet, tx-drop ...). ok false leaves the link alone.
// It is called while rows are built and must not call back into this engine.
type Overlay func(name string) (props map[string]string, ok bool)

var overlays struct {
	sync.RWMutex
	fns []Overlay
}

// RegisterOverlay adds an Overlay for every /interface print from now on.
func RegisterOverlay(fn Overlay) {
	overlays.Lock()
	overlays.fns = append(overlays.fns, fn)
	overlays.Unlock()
}

// applyOverlays lets the registered overlays replace properties of the named link.
func applyOverlays(name string, p map[string]string) {
	overlays.RLock()
	fns := overlays.fns
	overlays.RUnlock()
	for _, fn := range fns {
		if extra, ok := fn(name); ok {
			for k, v := range extra {
				p[k] = v
			}
		}
	}
}
