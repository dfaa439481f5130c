package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// ownerAlias marks the links routerd created (IFLA_IFALIAS): only those are deleted when
// their configuration goes, and a restarted routerd recognises them as its own.
const ownerAlias = "routerd"

// dynBase offsets the ids of links that have no configured /interface item, so they never
// collide with the store's ids (which count up from 1).
const dynBase = 0x1000000

// ErrNotSupported is returned by Start when netlink cannot be used (no rtnetlink socket).
var ErrNotSupported = errors.New("link: netlink not available")

// Menus this engine applies.
const (
	IfacePath      = menu.InterfacePath
	etherPath      = menu.EthernetPath
	bridgePath     = menu.BridgePath
	portPath       = menu.BridgePortPath
	bridgeVlanPath = menu.BridgeVLANPath
	vlanPath       = menu.VLANPath
	mdbPath        = menu.BridgeMDBPath
	listPath       = menu.InterfaceListPath
	listMemberPath = menu.InterfaceListMemberPath
)

var paths = []string{IfacePath, etherPath, bridgePath, portPath, bridgeVlanPath, vlanPath, mdbPath, listPath, listMemberPath}

// Engine converges links, bridges and VLANs to the configuration.
type Engine struct {
	ex *control.Executor
	eh *engine.Handle
	h  Kernel // the real kernel (NewKernel) unless a test set a fake

	mdbHost map[mdbKey]bool // host entries added in this run (Reconcile only)
	// etherIdx is the ifindex of the link each /interface ethernet item was applied to
	// (Reconcile only), so a port renamed again is found under the name it has.
	etherIdx map[uint64]int
	// oldAlt is the RouterOS name a renamed ethernet port had, by item, until its
	// alternative name is removed from the link (Reconcile only).
	oldAlt map[uint64]string
	// passErrs are the kernel errors of the pass that no item shows (a bridge no longer
	// configured that the kernel keeps, a port no item names): Reconcile returns them,
	// so the host marks the engine's items with them until a pass succeeds (Reconcile
	// only).
	passErrs []error

	mu   sync.Mutex
	hist map[string]*history // carrier history by link name, since start
	macs map[string]string   // original MAC address of ethernet ports, by default-name
	// byName and byIndex are the kernel's links as link events told them, by RouterOS name.
	byName  map[string]int
	byIndex map[int]string
	// events decides which link events need a pass.
	events eventFilter

	names *Names // RouterOS names <-> kernel link names, offered to the other engines
	// listPorts are the dynamic rows of /interface bridge port: the members of the
	// interface lists port items name (expandPorts).
	listPorts []control.Row
}

type history struct {
	up               bool
	lastUp, lastDown time.Time
	downs            int
}

// New returns the link engine, for an engine host to run.
func New() *Engine {
	return &Engine{hist: map[string]*history{}, mdbHost: map[mdbKey]bool{}, etherIdx: map[uint64]int{}, oldAlt: map[uint64]string{},
		byName: map[string]int{}, byIndex: map[int]string{}, names: NewNames()}
}

// Spec declares the menus the engine applies. Kernel link events kick it, so it needs
// no periodic pass: a link deleted behind routerd's back is put back at once.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "link", Menus: paths, Resync: engine.Never}
}

// Start registers the engine's sources and commands and follows the kernel's links
// until ctx ends. Overlays and hiders other engines offer (link.Overlay, link.Hider)
// are looked up whenever rows are built.
func (e *Engine) Start(ctx context.Context, eh *engine.Handle) error {
	h, err := NewKernel()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	e.ex, e.eh, e.h = eh.Ex, eh, h
	// The kernel names collisions moved on to, before any engine asks for one.
	if err := e.ex.Store.View(func(tx *store.Tx) error { e.names.load(tx); return nil }); err != nil {
		slog.Warn("link: reading stored kernel names", "err", err)
	}
	e.ex.Provide(IfacePath, e.ifaceRows)
	e.ex.Provide(etherPath, e.etherRows)
	e.ex.Provide(portPath, e.portRows)
	e.ex.ProvideNames(IfacePath, e.hasLink)
	e.ex.ProvideNames(etherPath, e.hasPort)
	e.registerCommands()
	engine.Offer(eh, ListMembers(e.Members))
	engine.Offer(eh, e.names)

	updates := make(chan netlink.LinkUpdate, 512)
	err = netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			if ctx.Err() != nil {
				return // closing the socket at shutdown is no error
			}
			slog.Warn("link: netlink subscription", "err", err)
			eh.Kick()
		},
	})
	if err != nil {
		h.Close()
		return fmt.Errorf("link: subscribe: %w", err)
	}
	e.watchMdb(ctx)
	eh.Go(ctx, func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-updates:
				if !ok {
					return
				}
				// A tunnel's hidden end is no interface of any menu here, and a
				// tunnel's interface is one only when an item names it: their events
				// (several per tunnel made) need no pass.
				if e.observe(u) && !e.hiddenLink(u.Link.Attrs().Name) {
					eh.Kick()
				}
			}
		}
	})
	return nil
}

// Close releases the netlink handle once the engine's goroutines have ended.
func (e *Engine) Close() error {
	e.h.Close()
	return nil
}

// observe keeps the carrier history print shows (last-link-up-time, link-downs), and
// reports whether the event needs a pass (eventFilter).
func (e *Engine) observe(u netlink.LinkUpdate) bool {
	a := u.Link.Attrs()
	e.names.observe(a)
	ros := e.nameOf(a)
	e.mu.Lock()
	defer e.mu.Unlock()
	need := e.events.needsPass(u, ros)
	if old, ok := e.byIndex[a.Index]; ok && old != ros {
		delete(e.byName, old) // renamed
	}
	if u.Header.Type == 17 { // RTM_DELLINK
		delete(e.hist, a.Name)
		delete(e.byName, ros)
		delete(e.byIndex, a.Index)
		return need
	}
	e.byName[ros], e.byIndex[a.Index] = a.Index, ros
	up := a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && a.Flags&1 != 0 && a.RawFlags&0x10000 != 0)
	hs := e.hist[a.Name]
	if hs == nil {
		hs = &history{up: up}
		if up {
			hs.lastUp = time.Now()
		}
		e.hist[a.Name] = hs
		return need
	}
	if up != hs.up {
		if up {
			hs.lastUp = time.Now()
		} else {
			hs.lastDown = time.Now()
			hs.downs++
		}
		hs.up = up
	}
	return need
}

// Reconcile converges the kernel to the store, in dependency order.
func (e *Engine) Reconcile(context.Context) error {
	mark := e.names.mark()
	cfg, err := e.load()
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	// The pass reads the links once, again only after it changed some.
	if pk, ok := e.h.(*passKernel); ok {
		pk.begin()
		defer pk.end()
	}
	e.passErrs = nil
	e.forgetNames(mark, cfg.names)
	e.applyEthers(cfg)
	e.applyBridges(cfg)
	e.applyVlans(cfg)
	e.applyIfaces(cfg)
	e.keepPorts(cfg)
	e.applyPorts(cfg)
	e.applyBridgeVlans(cfg)
	e.applyMdb(cfg)
	e.applyLists(cfg)
	for path, bad := range cfg.undecodable {
		for id, why := range bad {
			e.setState(path, id, false, why, nil)
		}
	}
	return errors.Join(e.passErrs...)
}

// passErr records a kernel error of the pass that no item shows; a link that is gone
// already (ENODEV) is what the change wanted, no error.
func (e *Engine) passErr(err error) {
	if err != nil && !errors.Is(err, unix.ENODEV) {
		e.passErrs = append(e.passErrs, err)
	}
}

// LoopbackUp brings lo up. A router keeps loopback up (its services and the metrics
// listener bind 127.0.0.1), and a fresh network namespace starts with lo down. A nil h
// uses the calling thread's namespace.
func LoopbackUp(h *netlink.Handle) error {
	if h == nil {
		h = &netlink.Handle{}
	}
	return loopbackUp(netlinkKernel{h})
}

func loopbackUp(h Kernel) error {
	l, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// portMTU is an ethernet port's MTU when nothing configures one: RouterOS's default.
const portMTU = 1500

// ownedPort reports whether l (called name) is an ethernet port routerd owns: an
// ethernet-like link that is no tunnel's hidden end and that no other engine claims.
func (e *Engine) ownedPort(name string, l netlink.Link) bool {
	return !e.hiddenLink(name) && e.isPort(l, e.passLink)
}

// isPort reports whether l is an Ethernet port, as /interface ethernet print lists them:
// an ethernet-like link that is not a tunnel's end (tunnelEnd, with byIndex to find its
// peer) and that no other engine claims with an Overlay (a GRE or EoIP tunnel's link is a
// veth too).
func (e *Engine) isPort(l netlink.Link, byIndex func(int) (netlink.Link, error)) bool {
	if !ethernetLike(l) || e.tunnelEnd(l, byIndex) {
		return false
	}
	return !e.applyOverlays(e.nameOf(l.Attrs()), map[string]string{})
}

// portIn is isPort for the links of the dump ls, peers looked for in it.
func (e *Engine) portIn(ls []netlink.Link) func(netlink.Link) bool {
	byIndex := func(i int) (netlink.Link, error) { return linkIn(ls, i) }
	return func(l netlink.Link) bool { return e.isPort(l, byIndex) }
}

// keepPorts keeps lo up, and the ethernet ports no item configures up and at RouterOS's
// default MTU: RouterOS ports are enabled (disabled=no) with mtu=1500 until configured
// otherwise, and print shows them so, so a port the OS left down (or whose MTU someone
// changed behind routerd's back) would show one thing and do another. A configured port
// or /interface item rules its own settings (applyEthers, applyIfaces); tunnels' hidden
// ends and other engines' links are theirs.
func (e *Engine) keepPorts(cfg *config) {
	configured := map[string]bool{}
	for _, it := range cfg.ifaces {
		configured[it.Name] = true
	}
	if !configured["lo"] {
		e.passErr(loopbackUp(e.h))
	}
	ethers := indexEthers(cfg.rawEthers)
	for name, l := range e.links() {
		a := l.Attrs()
		if a.Flags&net.FlagUp != 0 && a.MTU == portMTU || configured[name] || !ethernetLike(l) {
			continue
		}
		if _, ok := ethers.of(name); ok || !e.ownedPort(name, l) {
			continue
		}
		if a.MTU != portMTU {
			if err := e.h.LinkSetMTU(l, portMTU); err != nil {
				e.passErr(fmt.Errorf("setting the mtu of unconfigured port %s to %d: %w", name, portMTU, err))
			} else {
				slog.Info("link: port's mtu put back to the default (set mtu= to keep another)", "interface", name, "was", a.MTU, "mtu", portMTU)
			}
		}
		if a.Flags&net.FlagUp != 0 {
			continue
		}
		if err := e.h.LinkSetUp(l); err != nil {
			e.passErr(fmt.Errorf("bringing up unconfigured port %s: %w", name, err))
			continue
		}
		slog.Info("link: port was down; brought up as an enabled port (disable it to keep it down)", "interface", name)
	}
}

// config is one consistent read of the menus this engine applies.
type config struct {
	// raw /interface and /interface ethernet items, for the lookups rows share
	rawIfaces, rawEthers []store.Item
	ifaces               []ifaceItem
	ethers               []etherItem
	bridges              []bridgeItem
	vlans                []vlanItem
	ports                []portItem
	bvlans               []bridgeVlanItem
	mdbs                 []mdbItem
	lists                []listItem
	members              []memberItem
	// undecodable are the items, by menu, that did not decode (shown invalid).
	undecodable map[string]map[uint64]string
	// names are the configured interface names (configuredNames).
	names map[string]bool
}

func (e *Engine) load() (*config, error) {
	c := &config{undecodable: map[string]map[uint64]string{}}
	raw := map[string][]store.Item{}
	err := e.ex.Store.View(func(tx *store.Tx) error {
		for _, p := range paths {
			items, err := tx.List(p)
			if err != nil {
				return err
			}
			raw[p] = items
		}
		// Every configured interface name (tunnels' too), in one order so collisions
		// resolve alike: the map is where every engine finds the kernel name.
		names, err := configuredNames(e.ex, tx)
		for _, n := range slices.Sorted(maps.Keys(names)) {
			e.names.learn(n)
		}
		c.names = names
		return err
	})
	if err != nil {
		return nil, err
	}
	names := configValues(raw)
	e.mu.Lock()
	e.events.names = names
	e.mu.Unlock()
	c.rawIfaces, c.rawEthers = raw[IfacePath], raw[etherPath]
	t, u := e.ex.Tree, c.undecodable
	c.ifaces = decodeMenu[ifaceItem](t, IfacePath, raw, u)
	c.ethers = decodeMenu[etherItem](t, etherPath, raw, u)
	c.bridges = decodeMenu[bridgeItem](t, bridgePath, raw, u)
	c.vlans = decodeMenu[vlanItem](t, vlanPath, raw, u)
	c.ports = decodeMenu[portItem](t, portPath, raw, u)
	c.bvlans = decodeMenu[bridgeVlanItem](t, bridgeVlanPath, raw, u)
	c.mdbs = decodeMenu[mdbItem](t, mdbPath, raw, u)
	c.lists = decodeMenu[listItem](t, listPath, raw, u)
	c.members = decodeMenu[memberItem](t, listMemberPath, raw, u)
	return c, nil
}

// forgetNames drops from the map the names assigned before mark that are neither
// configured nor a link's any more, so their kernel names are free for others, and
// persists the assignments collisions moved.
func (e *Engine) forgetNames(mark uint64, configured map[string]bool) {
	ls, err := e.h.LinkList()
	if err != nil {
		return // keep them all: no way to tell which links exist
	}
	have := make(map[string]bool, len(ls))
	for _, l := range ls {
		have[l.Attrs().Name] = true
	}
	e.names.retain(mark, func(ros, k string) bool { return configured[ros] || have[k] })
	if err := e.names.save(e.ex.Store); err != nil {
		e.passErr(fmt.Errorf("saving kernel names: %w", err)) // still dirty: saved next pass
	}
}

// links returns the kernel's links by RouterOS name (Reconcile only: a dump that fails
// is the pass's error, the steps go on with what they have).
func (e *Engine) links() map[string]netlink.Link {
	ls, err := e.h.LinkList()
	if err != nil {
		e.passErr(fmt.Errorf("listing links: %w", err))
	}
	out := make(map[string]netlink.Link, len(ls))
	for _, l := range ls {
		out[e.nameOf(l.Attrs())] = l
	}
	return out
}

func owned(l netlink.Link) bool { return l.Attrs().Alias == ownerAlias }

// setState reports an item's state; an empty reason means applied.
func (e *Engine) setState(path string, id uint64, running bool, reason string, props map[string]string) {
	e.ex.State.Set(path, id, control.ItemState{Running: running, Invalid: reason != "", Status: reason, Props: props})
}

// Known reports whether name is an interface: a link of the system, or one configured in
// a menu under /interface and so about to exist (tx is the caller's transaction, so an
// import sees the bridge or tunnel it added a line earlier).
// StaleRef reports whether name is RouterOS's reference to an interface that no longer
// exists: "*" and the item's hexadecimal id, as /export writes it for an address or a
// port whose interface was removed (`interface=*A`). Such an item is kept, and invalid.
func StaleRef(name string) bool {
	if len(name) < 2 || name[0] != '*' {
		return false
	}
	for _, c := range name[1:] {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func Known(ex *control.Executor, tx *store.Tx, name string) bool {
	if name == "" {
		return false
	}
	for _, m := range ex.Tree.All() {
		if !m.NamesInterface() {
			continue
		}
		if _, ok := tx.ByName(m.Path, name); ok {
			return true
		}
	}
	return ex.HasName(IfacePath, name)
}

// hasLink reports whether the kernel has a link of that name that is an interface of
// its own (not a tunnel's hidden end), for the reference checks of writing commands: from
// the names the link events published, else one lookup of that name (a link made a
// moment ago whose event is still on its way), never a dump.
// hasPort reports whether name is an Ethernet port's: a link /interface ethernet lists
// (physical or veth) that routerd did not create and that is no tunnel's interface (the
// visible end of a veth pair whose other end a Hider hides). Its name is taken for the
// other menus of /interface, as RouterOS refuses a bridge called ether2. One lookup of
// that name, as hasLink.
func (e *Engine) hasPort(name string) bool {
	if CheckName(name) != nil {
		return false
	}
	// By the index link events published, else by a name the kernel can carry as is:
	// never Names.Kernel, which would give a kernel name to a name only being tried.
	e.mu.Lock()
	idx, known := e.byName[name]
	e.mu.Unlock()
	var l netlink.Link
	var err error
	switch { // own socket: e.h belongs to the pass
	case known:
		l, err = netlink.LinkByIndex(idx)
	case len(name) <= maxKernelName && kernelSafe(name):
		l, err = netlink.LinkByName(name)
	default:
		return false
	}
	if err != nil || !ethernetLike(l) || owned(l) || e.hiddenLink(name) {
		return false
	}
	return !e.tunnelEnd(l, netlink.LinkByIndex) // own socket: e.h belongs to the pass
}

// tunnelEnd reports whether l is the visible end of a veth pair whose other end a Hider
// hides: a tunnel's interface, from the moment the pair exists (before its engine claims
// it with an Overlay) until it is gone, so it is never taken for an Ethernet port. The
// peer is found by index through byIndex when link events have not told it. A veth whose
// peer in this namespace is not there is a pair being deleted (both ends go together:
// QA saw the MTU of a tunnel's link being removed set as a port's), no port either; a
// peer in another namespace (a test's veth) is not looked for.
func (e *Engine) tunnelEnd(l netlink.Link, byIndex func(int) (netlink.Link, error)) bool {
	a := l.Attrs()
	if l.Type() != "veth" || a.ParentIndex == 0 || a.NetNsID >= 0 {
		return false // a peer in another namespace: ParentIndex is that namespace's index
	}
	e.mu.Lock()
	peer, ok := e.byIndex[a.ParentIndex]
	e.mu.Unlock()
	if !ok {
		p, err := byIndex(a.ParentIndex)
		if err != nil {
			var nf netlink.LinkNotFoundError
			return errors.As(err, &nf)
		}
		peer = p.Attrs().Name
	}
	return e.hiddenLink(peer)
}

// passLink finds a link by index in the pass's dump (e.h keeps one per pass).
func (e *Engine) passLink(index int) (netlink.Link, error) {
	ls, err := e.h.LinkList()
	if err != nil {
		return nil, err
	}
	return linkIn(ls, index)
}

// linkIn finds the link with index in the dump ls.
func linkIn(ls []netlink.Link, index int) (netlink.Link, error) {
	for _, l := range ls {
		if l.Attrs().Index == index {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (e *Engine) hasLink(name string) bool {
	e.mu.Lock()
	_, ok := e.byName[name]
	e.mu.Unlock()
	if !ok {
		if CheckName(name) != nil {
			return false
		}
		if _, err := netlink.LinkByName(e.names.Kernel(name)); err != nil { // own socket: e.h belongs to the pass
			return false
		}
	}
	return !e.hiddenLink(name)
}
