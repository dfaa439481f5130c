package ipcfg

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// ErrPoolExhausted: the pool and its next-pools have no free address.
var ErrPoolExhausted = errors.New("ip pool: no free address")

// ErrNoSuchPool: no /ip pool item has that name.
var ErrNoSuchPool = errors.New("ip pool: no such pool")

// Range is one range of a pool, inclusive.
type Range struct{ From, To netip.Addr }

// ParseRanges reads a pool's ranges= value: from-to, a prefix, or one address, comma
// separated.
func ParseRanges(s string) ([]Range, error) {
	var out []Range
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		var r Range
		switch {
		case strings.Contains(part, "/"):
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("bad range %q", part)
			}
			p = p.Masked()
			r.From, r.To = p.Addr(), lastAddr(p)
		case strings.Contains(part, "-"):
			a, b, _ := strings.Cut(part, "-")
			from, err1 := netip.ParseAddr(a)
			to, err2 := netip.ParseAddr(b)
			if err1 != nil || err2 != nil || from.Is4() != to.Is4() || to.Less(from) {
				return nil, fmt.Errorf("bad range %q", part)
			}
			r.From, r.To = from, to
		default:
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("bad range %q", part)
			}
			r.From, r.To = a, a
		}
		out = append(out, r)
	}
	return out, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Lease is one address handed out.
type Lease struct {
	Pool  string
	Addr  netip.Addr
	Owner string // subsystem ("ipsec")
	Info  string // who got it (peer identity)
}

// Pools hands out addresses of /ip pool; leases live in memory (their holders re-acquire
// after a restart, as RouterOS' do).
type Pools struct {
	ex     *control.Executor
	mu     sync.Mutex
	leases map[string]map[netip.Addr]Lease
}

func newPools(ex *control.Executor) *Pools {
	return &Pools{ex: ex, leases: map[string]map[netip.Addr]Lease{}}
}

// Acquire leases the first free address of the named pool (then of its next-pool chain).
func (p *Pools) Acquire(pool, owner, info string) (netip.Addr, error) {
	items, err := p.ex.Items(PoolPath)
	if err != nil {
		return netip.Addr{}, err
	}
	byName := map[string]store.Item{}
	for _, it := range items {
		byName[it.Props["name"]] = it
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	for name := pool; name != "" && name != "none" && !seen[name]; {
		seen[name] = true
		it, ok := byName[name]
		if !ok {
			if name == pool {
				return netip.Addr{}, ErrNoSuchPool
			}
			break
		}
		rs, err := ParseRanges(it.Props["ranges"])
		if err != nil {
			return netip.Addr{}, err
		}
		used := p.leases[name]
		for _, r := range rs {
			for a := r.From; a.IsValid() && !r.To.Less(a); a = a.Next() {
				if _, taken := used[a]; !taken {
					if used == nil {
						used = map[netip.Addr]Lease{}
						p.leases[name] = used
					}
					used[a] = Lease{Pool: name, Addr: a, Owner: owner, Info: info}
					return a, nil
				}
			}
		}
		name = it.Props["next-pool"]
	}
	return netip.Addr{}, ErrPoolExhausted
}

// Release returns a leased address. pool is the pool Acquire was asked for: an address
// that came from its next-pool chain is found there.
func (p *Pools) Release(pool string, a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.leases[pool][a]; ok {
		delete(p.leases[pool], a)
		return
	}
	for _, m := range p.leases {
		if _, ok := m[a]; ok {
			delete(m, a)
			return
		}
	}
}

// Leases lists the current leases, ordered by pool and address.
func (p *Pools) Leases() []Lease {
	p.mu.Lock()
	var out []Lease
	for _, m := range p.leases {
		for _, l := range m {
			out = append(out, l)
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pool != out[j].Pool {
			return out[i].Pool < out[j].Pool
		}
		return out[i].Addr.Less(out[j].Addr)
	})
	return out
}

func (p *Pools) usedRows(context.Context, *control.Session) ([]control.Row, error) {
	var rows []control.Row
	for i, l := range p.Leases() {
		rows = append(rows, control.Row{ID: uint64(i + 1), Props: map[string]string{
			"pool": l.Pool, "address": l.Addr.String(), "owner": l.Owner, "info": l.Info}})
	}
	return rows, nil
}

// checkPool refuses malformed ranges before the generic add and set.
func (e *Engine) checkPool(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error) {
	for _, a := range args {
		if a.Name == "ranges" && !a.Flag && !a.Unset {
			if _, err := ParseRanges(a.Value); err != nil {
				return nil, control.ArgError("invalid value for argument ranges")
			}
		}
	}
	return args, nil
}
