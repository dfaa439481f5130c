package tunnel

import (
	"strconv"
	"strings"

	"github.com/routerd/routerd/control/link"
)

// ifaceOverlay gives /interface print (and print stats) a tunnel's RouterOS type word
// and the eBPF dataplane's counters for its visible interface: rx is what was
// decapsulated onto it, tx what was encapsulated from it. rx-drop counts malformed
// packets (EoIP length beyond the packet); tx-drop the rest of the dataplane's drop
// reasons (no route, unresolved neighbour, no 6to4 remote, packet not growable, and
// payloads the tunnel does not carry, which are counted for both directions together).
func (e *Engine) ifaceOverlay(name string) (map[string]string, bool) {
	e.mu.Lock()
	var (
		idx int
		typ string
	)
	for _, t := range e.live {
		if t.name == name {
			idx, typ = t.hiddenIdx, strings.TrimPrefix(t.path, "/interface/")+"-tunnel"
			break
		}
	}
	e.mu.Unlock()
	if idx == 0 {
		return nil, false
	}
	s, err := e.dp.Stats(idx)
	if err != nil {
		return nil, false
	}
	var txDrop uint64
	for i, d := range s.Drops {
		if i != 5 { // malformed: a receive drop
			txDrop += d
		}
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return map[string]string{"type": typ, "rx-packet": u(s.RxPackets), "rx-byte": u(s.RxBytes),
		"tx-packet": u(s.TxPackets), "tx-byte": u(s.TxBytes), "rx-drop": u(s.Drops[5]), "tx-drop": u(txDrop)}, true
}

var _ link.Overlay = (*Engine)(nil).ifaceOverlay
