package nd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Menu paths.
const (
	Path        = menu.NDPath
	PrefixPath  = menu.NDPrefixPath
	DefaultPath = menu.NDPrefixDefaultPath
)

// ErrNotSupported: no raw ICMPv6 socket (no IPv6, or no privilege).
var ErrNotSupported = errors.New("nd: raw ICMPv6 sockets not available")

var (
	allNodes   = netip.MustParseAddr("ff02::1")
	allRouters = netip.MustParseAddr("ff02::2")
)

// ifCfg is what one interface advertises.
type ifCfg struct {
	name     string
	index    int
	ra       RA
	min, max time.Duration
	next     time.Time
	itemID   uint64
}

// Engine sends router advertisements.
type Engine struct {
	ex   *control.Executor
	k    Kernel           // socketKernel from Start on; a fake in the plan test
	now  func() time.Time // the sender's clock (the plan test's is fixed)
	kick chan struct{}

	names *link.Names // RouterOS interface names <-> kernel link names (the link engine's)

	mu     sync.Mutex
	ifs    map[int]*ifCfg
	joined map[int]bool
	// unjoined says, by interface, why ff02::2 could not be joined there: solicitations
	// go unanswered (the unsolicited advertisements still go out). Shown on the item.
	unjoined map[int]error
	dyn      []control.Row
	sent     map[int]uint64
}

// New returns the engine for an engine host (no I/O until Start).
func New() *Engine {
	return &Engine{now: time.Now, kick: make(chan struct{}, 1), ifs: map[int]*ifCfg{}, joined: map[int]bool{},
		unjoined: map[int]error{}, sent: map[int]uint64{}}
}

// Spec declares the menus the engine applies and the ones it follows: addresses give
// the prefixes, /ip dns the RDNSS, links the interfaces.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "nd", Menus: []string{Path, PrefixPath, DefaultPath},
		Watch: []string{ipcfg.Addr6Path, dns.SettingsPath, link.IfacePath}}
}

// Start opens the raw ICMPv6 socket and starts the reader and the sender.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.names, _ = engine.Lookup[*link.Names](h)
	if err := e.open(h.Ex); err != nil {
		return err
	}
	h.Go(ctx, e.read)
	h.Go(ctx, e.tick)
	return nil
}

// Close closes the socket.
func (e *Engine) Close() error { return e.k.Close() }

func (e *Engine) open(ex *control.Executor) error {
	if e.k == nil {
		k, err := openSocket()
		if err != nil {
			return err
		}
		e.k = k
	}
	e.ex = ex
	ex.Provide(PrefixPath, e.prefixRows)
	return nil
}

func (e *Engine) prefixRows(context.Context, *control.Session) ([]control.Row, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]control.Row(nil), e.dyn...), nil
}

// tick sends the unsolicited advertisements that are due.
func (e *Engine) tick(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.sendDue(e.now())
		}
	}
}

// sendDue sends the unsolicited advertisements due at now, each interface's next one
// at a random point of its ra-interval after.
func (e *Engine) sendDue(now time.Time) {
	e.mu.Lock()
	var due []*ifCfg
	for _, c := range e.ifs {
		if !now.Before(c.next) {
			due = append(due, c)
			c.next = now.Add(c.min + rand.N(c.max-c.min+1))
		}
	}
	e.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].index < due[j].index })
	for _, c := range due {
		if err := e.send(c, allNodes); err != nil {
			slog.Debug("nd: advertisement", "interface", c.name, "err", err)
			// No link-local address yet (DAD): try again soon.
			e.mu.Lock()
			c.next = now.Add(time.Second)
			e.mu.Unlock()
		}
	}
}

// read answers router solicitations.
func (e *Engine) read(ctx context.Context) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		// A deadline lets the reader see ctx end: the host waits for it before Close.
		n, ifindex, hopLimit, from, err := e.k.Receive(buf, time.Now().Add(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if hopLimit != 255 {
			continue
		}
		if _, err := ParseRS(buf[:n], from); err != nil {
			continue
		}
		e.mu.Lock()
		c := e.ifs[ifindex]
		e.mu.Unlock()
		if c == nil {
			continue
		}
		to := allNodes
		if from.IsValid() && !from.IsUnspecified() {
			to = from
		}
		if err := e.send(c, to); err != nil {
			slog.Debug("nd: answer to solicitation", "interface", c.name, "err", err)
		}
	}
}

func (e *Engine) send(c *ifCfg, to netip.Addr) error {
	e.mu.Lock()
	msg := c.ra.Marshal()
	idx, name := c.index, c.name
	e.mu.Unlock()
	err := e.k.Send(msg, &net.Interface{Index: idx, Name: name}, to)
	if err == nil {
		e.mu.Lock()
		e.sent[idx]++
		e.mu.Unlock()
	}
	return err
}

// Sent is the number of advertisements sent on an interface (tests).
func (e *Engine) Sent(ifname string) uint64 {
	ifi, err := e.k.Interface(e.names.Kernel(ifname))
	if err != nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent[ifi.Index]
}

func parseInterval(s string) (time.Duration, time.Duration, error) {
	a, b, ok := strings.Cut(s, "-")
	min, err := value.ParseDuration(a)
	if err != nil {
		return 0, 0, fmt.Errorf("ra-interval: %w", err)
	}
	max := min
	if ok {
		if max, err = value.ParseDuration(b); err != nil {
			return 0, 0, fmt.Errorf("ra-interval: %w", err)
		}
	}
	if min < 3*time.Second || max < min || max > 1800*time.Second {
		return 0, 0, fmt.Errorf("ra-interval: want min-max within 3s..30m, min <= max")
	}
	return min, max, nil
}

func optDur(s string, unspecified time.Duration) (time.Duration, error) {
	switch s {
	case "", "unspecified":
		return unspecified, nil
	case "none":
		return 0, nil
	case "infinity":
		return -1, nil
	}
	return value.ParseDuration(s)
}

// ndItem is one /ipv6 nd item as configured, decoded through the menu schema. The
// properties that take a word or a time (unspecified, none, infinity) stay strings until
// decodeIf checks them together.
type ndItem struct {
	Interface    string   `prop:"interface"`
	RAInterval   string   `prop:"ra-interval"`
	RALifetime   string   `prop:"ra-lifetime"`
	RAPreference string   `prop:"ra-preference"`
	HopLimit     string   `prop:"hop-limit"`
	Managed      bool     `prop:"managed-address-configuration"`
	Other        bool     `prop:"other-configuration"`
	AdvertiseMAC bool     `prop:"advertise-mac-address"`
	AdvertiseDNS bool     `prop:"advertise-dns"`
	DNS          []string `prop:"dns"`
	MTU          string   `prop:"mtu"`
	Reachable    string   `prop:"reachable-time"`
	Retransmit   string   `prop:"retransmit-interval"`
	Disabled     bool     `prop:"disabled"`
}

// prefixItem is one /ipv6 nd prefix item as configured.
type prefixItem struct {
	Prefix     netip.Prefix `prop:"prefix"`
	Interface  string       `prop:"interface"`
	OnLink     bool         `prop:"on-link"`
	Autonomous bool         `prop:"autonomous"`
	PD         bool         `prop:"dhcp6-pd-preferred"`
	Valid      string       `prop:"valid-lifetime"`
	Preferred  string       `prop:"preferred-lifetime"`
	Disabled   bool         `prop:"disabled"`
}

// prefixDefault is /ipv6 nd prefix default: what the dynamic prefixes carry.
type prefixDefault struct {
	Autonomous bool   `prop:"autonomous"`
	PD         bool   `prop:"dhcp6-pd-preferred"`
	Valid      string `prop:"valid-lifetime"`
	Preferred  string `prop:"preferred-lifetime"`
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	// Of the addresses it follows, the engine applies advertise (their prefixes go into
	// the advertisements).
	return map[string]any{Path: ndItem{}, PrefixPath: prefixItem{}, DefaultPath: prefixDefault{},
		ipcfg.Addr6Path: engine.Props{"advertise"}}
}

// Reconcile decodes the items and rebuilds the per-interface advertisements.
func (e *Engine) Reconcile(ctx context.Context) error {
	items, err := e.ex.Items(Path)
	if err != nil {
		return err
	}
	ndm, _ := e.ex.Tree.Get(Path)
	pm, _ := e.ex.Tree.Get(PrefixPath)
	addrs, _ := e.ex.Items(ipcfg.Addr6Path)
	statics, _ := e.ex.Items(PrefixPath)
	var rdnss []netip.Addr
	if st, _ := e.ex.Items(dns.SettingsPath); len(st) > 0 {
		for _, s := range strings.Split(st[0].Props["servers"], ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && a.Is6() {
				rdnss = append(rdnss, a)
			}
		}
	}
	// What the dynamic prefixes carry (/ipv6 nd prefix default).
	var def prefixDefault
	dm, _ := e.ex.Tree.Get(DefaultPath)
	defs, _ := e.ex.Items(DefaultPath)
	defItem := store.Item{Props: map[string]string{}}
	if len(defs) > 0 {
		defItem = defs[0]
	}
	derr := engine.Decode(dm, defItem, &def)
	defValid, err2 := optDur(def.Valid, 30*24*time.Hour)
	defPref, err3 := optDur(def.Preferred, 7*24*time.Hour)
	if derr = errors.Join(derr, err2, err3); derr != nil {
		def, defValid, defPref = prefixDefault{Autonomous: true, Valid: "4w2d", Preferred: "1w"}, 30*24*time.Hour, 7*24*time.Hour
	}
	if len(defs) > 0 {
		st := control.ItemState{}
		if derr != nil {
			st.Invalid, st.Status = true, derr.Error()+" (RouterOS's defaults are used)"
		}
		e.ex.State.Set(DefaultPath, defs[0].ID, st)
	}
	// Prefixes per interface: dynamic from addresses, then static.
	prefixes := map[string][]Prefix{}
	var dyn []control.Row
	for _, a := range addrs {
		p := a.Props
		if p["disabled"] == "yes" || p["advertise"] == "no" {
			continue
		}
		pf, err := netip.ParsePrefix(p["address"])
		if err != nil || pf.Addr().IsLinkLocalUnicast() {
			continue
		}
		pf = pf.Masked()
		auto := def.Autonomous && pf.Bits() == 64
		prefixes[p["interface"]] = append(prefixes[p["interface"]], Prefix{Prefix: pf, OnLink: true, Autonomous: auto,
			PDPreferred: def.PD, Valid: defValid, Preferred: defPref})
		yes := map[bool]string{true: "yes", false: "no"}
		dyn = append(dyn, control.Row{ID: 0x10000 + a.ID, Props: map[string]string{"prefix": pf.String(),
			"interface": p["interface"], "on-link": "yes", "autonomous": yes[auto], "dhcp6-pd-preferred": yes[def.PD],
			"valid-lifetime": def.Valid, "preferred-lifetime": def.Preferred, "dynamic": "yes"}, Flags: "D"})
	}
	for _, s := range statics {
		var c prefixItem
		st := control.ItemState{}
		err := engine.Decode(pm, s, &c)
		valid, err2 := optDur(c.Valid, 30*24*time.Hour)
		pref, err3 := optDur(c.Preferred, 7*24*time.Hour)
		switch {
		case err != nil:
			st.Invalid, st.Status = true, err.Error()
		case !c.Prefix.Addr().Is6():
			st.Invalid, st.Status = true, "prefix must be IPv6"
		case errors.Join(err2, err3) != nil:
			st.Invalid, st.Status = true, errors.Join(err2, err3).Error()
		case !c.Disabled:
			prefixes[c.Interface] = append(prefixes[c.Interface], Prefix{Prefix: c.Prefix.Masked(),
				OnLink: c.OnLink, Autonomous: c.Autonomous, PDPreferred: c.PD, Valid: valid, Preferred: pref})
		}
		e.ex.State.Set(PrefixPath, s.ID, st)
	}
	// Interfaces: explicit items, and for the default item (all) every interface that
	// carries an IPv6 address of routerd's.
	type choice struct {
		id uint64
		c  ndItem
	}
	chosen := map[string]choice{}
	undecodable := map[uint64]string{}
	var all *choice
	for _, it := range items {
		var c ndItem
		if err := engine.Decode(ndm, it, &c); err != nil {
			undecodable[it.ID] = err.Error()
			continue
		}
		if c.Interface == "all" {
			all = &choice{it.ID, c}
			continue
		}
		chosen[c.Interface] = choice{it.ID, c}
	}
	if all != nil {
		for _, a := range addrs {
			n := a.Props["interface"]
			if _, ok := chosen[n]; !ok && a.Props["disabled"] != "yes" {
				chosen[n] = *all
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	next := map[int]*ifCfg{}
	problems := map[uint64][]string{}
	for _, n := range names {
		ch := chosen[n]
		if ch.c.Disabled {
			continue
		}
		ifi, err := e.k.Interface(e.names.Kernel(n))
		if err != nil {
			problems[ch.id] = append(problems[ch.id], "no interface "+n)
			continue
		}
		cfg, err := decodeIf(ch.c, ifi, prefixes[n], rdnss)
		if err != nil {
			problems[ch.id] = append(problems[ch.id], err.Error())
			continue
		}
		cfg.itemID = ch.id
		next[ifi.Index] = cfg
	}
	now := e.now()
	var leaveErrs []error
	e.mu.Lock()
	for _, idx := range slices.Sorted(maps.Keys(next)) {
		c := next[idx]
		if old, ok := e.ifs[idx]; ok {
			c.next = old.next
			if !c.sameTiming(old) {
				c.next = now
			}
		} else {
			c.next = now
		}
		if !e.joined[idx] {
			// Not joined: tried again next pass, and the item says why meanwhile.
			if err := e.k.JoinAllRouters(&net.Interface{Index: idx, Name: c.name}); err != nil {
				e.unjoined[idx] = err
			} else {
				e.joined[idx] = true
				delete(e.unjoined, idx)
			}
		}
	}
	for _, idx := range slices.Sorted(maps.Keys(e.joined)) {
		if _, ok := next[idx]; !ok {
			if err := e.k.LeaveAllRouters(idx); err != nil {
				leaveErrs = append(leaveErrs, fmt.Errorf("leaving ff02::2 on interface %d: %w", idx, err))
				continue // tried again next pass
			}
			delete(e.joined, idx)
		}
	}
	notes := map[uint64][]string{}
	for idx, err := range e.unjoined {
		c, ok := next[idx]
		if !ok {
			delete(e.unjoined, idx)
			continue
		}
		notes[c.itemID] = append(notes[c.itemID], "not answering router solicitations on "+c.name+": "+err.Error())
	}
	e.ifs, e.dyn = next, dyn
	e.mu.Unlock()
	for _, it := range items {
		st := control.ItemState{}
		if why, ok := undecodable[it.ID]; ok {
			st.Invalid, st.Status = true, why
		} else if ps := problems[it.ID]; len(ps) > 0 && it.Props["interface"] != "all" {
			st.Invalid, st.Status = true, strings.Join(ps, "; ")
		}
		if ns := notes[it.ID]; len(ns) > 0 {
			sort.Strings(ns)
			if st.Status != "" {
				ns = append([]string{st.Status}, ns...)
			}
			st.Status = strings.Join(ns, "; ")
		}
		e.ex.State.Set(Path, it.ID, st)
	}
	return errors.Join(leaveErrs...)
}

func (c *ifCfg) sameTiming(o *ifCfg) bool { return c.min == o.min && c.max == o.max }

// decodeIf builds one interface's advertisement from its nd item.
func decodeIf(p ndItem, ifi *net.Interface, prefixes []Prefix, dns []netip.Addr) (*ifCfg, error) {
	c := &ifCfg{name: ifi.Name, index: ifi.Index}
	var err error
	if c.min, c.max, err = parseInterval(p.RAInterval); err != nil {
		return nil, err
	}
	ra := &c.ra
	ra.Managed, ra.Other, ra.Preference = p.Managed, p.Other, p.RAPreference
	if hl := p.HopLimit; hl != "" && hl != "unspecified" {
		n, err := strconv.Atoi(hl)
		if err != nil || n < 1 || n > 255 {
			return nil, fmt.Errorf("hop-limit: want 1..255")
		}
		ra.HopLimit = uint8(n)
	}
	if ra.Lifetime, err = optDur(p.RALifetime, 0); err != nil {
		return nil, fmt.Errorf("ra-lifetime: %w", err)
	}
	if ra.Lifetime < 0 || ra.Lifetime > 9000*time.Second {
		return nil, fmt.Errorf("ra-lifetime: at most 2h30m")
	}
	if ra.Reachable, err = optDur(p.Reachable, 0); err != nil {
		return nil, fmt.Errorf("reachable-time: %w", err)
	}
	if ra.Retrans, err = optDur(p.Retransmit, 0); err != nil {
		return nil, fmt.Errorf("retransmit-interval: %w", err)
	}
	if m := p.MTU; m != "" && m != "unspecified" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1280 {
			return nil, fmt.Errorf("mtu: want 1280..65535")
		}
		ra.MTU = uint32(n)
	}
	if p.AdvertiseMAC && len(ifi.HardwareAddr) == 6 {
		ra.SLLA = ifi.HardwareAddr
	}
	ra.Prefixes = prefixes
	if p.AdvertiseDNS {
		ra.DNS = dns
		if len(p.DNS) > 0 {
			ra.DNS = nil
			for _, s := range p.DNS {
				if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
					ra.DNS = append(ra.DNS, a)
				}
			}
		}
		ra.DNSLifetime = 3 * c.max
	}
	return c, nil
}
