package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/routerd/routerd/control"
)

// DynamicServers are the DNS servers other services learned (IPsec mode config as an
// initiator; RouterOS lists them in /ip dns dynamic-servers and forwards to them after
// the configured servers). Each service sets its own list under its name and empties it
// when what it learned from is gone. The dns engine offers it to the other engines.
type DynamicServers struct {
	mu       sync.Mutex
	byOwner  map[string][]netip.Addr
	onChange func()
}

// Set replaces the servers owner learned (none: it has none any more).
func (d *DynamicServers) Set(owner string, servers []netip.Addr) {
	d.mu.Lock()
	if slices.Equal(d.byOwner[owner], servers) {
		d.mu.Unlock()
		return
	}
	if d.byOwner == nil {
		d.byOwner = map[string][]netip.Addr{}
	}
	if len(servers) == 0 {
		delete(d.byOwner, owner)
	} else {
		d.byOwner[owner] = slices.Clone(servers)
	}
	f := d.onChange
	d.mu.Unlock()
	if f != nil {
		f()
	}
}

// Servers lists every owner's servers once, owners in name order.
func (d *DynamicServers) Servers() []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	owners := make([]string, 0, len(d.byOwner))
	for o := range d.byOwner {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	var out []netip.Addr
	for _, o := range owners {
		for _, a := range d.byOwner[o] {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func (d *DynamicServers) notify(f func()) {
	d.mu.Lock()
	d.onChange = f
	d.mu.Unlock()
}

// settingsState is /ip dns's read-only dynamic-servers.
func (e *Engine) settingsState(context.Context, *control.Session) ([]control.Row, error) {
	var s []string
	for _, a := range e.Dyn.Servers() {
		s = append(s, a.String())
	}
	return []control.Row{{Props: map[string]string{"dynamic-servers": strings.Join(s, ",")}}}, nil
}
