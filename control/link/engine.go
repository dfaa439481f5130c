package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
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

// Paths this engine applies.
var paths = []string{"/interface", "/interface/ethernet", "/interface/bridge", "/interface/bridge/port",
	"/interface/bridge/vlan", "/interface/vlan", "/interface/bridge/mdb", "/interface/list", "/interface/list/member"}

// Engine converges links, bridges and VLANs to the configuration.
type Engine struct {
	ex   *control.Executor
	h    *netlink.Handle
	kick chan struct{}

	mdbKick chan struct{}   // multicast database notifications
	mdbHost map[mdbKey]bool // host entries added in this run (run goroutine only)

	mu   sync.Mutex
	hist map[string]*history // carrier history by link name, since start
	macs map[string]string   // original MAC address of ethernet ports, by default-name
}

type history struct {
	up               bool
	lastUp, lastDown time.Time
	downs            int
}

// Start registers the engine's sources and commands, applies the configuration and
// follows the kernel's links until ctx ends.
func Start(ctx context.Context, ex *control.Executor) (*Engine, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	e := &Engine{ex: ex, h: h, kick: make(chan struct{}, 1), hist: map[string]*history{},
		mdbKick: make(chan struct{}, 1), mdbHost: map[mdbKey]bool{}}
	for _, p := range paths {
		ex.SetEngine(p, "link")
	}
	ex.Provide("/interface", e.ifaceRows)
	ex.Provide("/interface/ethernet", e.etherRows)
	e.registerCommands()
	ex.Watch("/interface", func(control.Change) { e.poke() })

	updates := make(chan netlink.LinkUpdate, 512)
	err = netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			slog.Warn("link: netlink subscription", "err", err)
			e.poke()
		},
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("link: subscribe: %w", err)
	}
	e.watchMdb(ctx)
	go e.run(ctx, updates)
	e.poke()
	return e, nil
}

func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// run applies the configuration after every change and every kernel link event; events
// arriving during a pass coalesce into one more pass.
func (e *Engine) run(ctx context.Context, updates <-chan netlink.LinkUpdate) {
	defer e.h.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			e.observe(u)
			e.poke()
		case <-e.kick:
			e.reconcile()
		case <-e.mdbKick:
			if cfg, err := e.load(); err == nil {
				e.applyMdb(cfg)
			}
		}
	}
}

// observe keeps the carrier history print shows (last-link-up-time, link-downs).
func (e *Engine) observe(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	e.mu.Lock()
	defer e.mu.Unlock()
	if u.Header.Type == 17 { // RTM_DELLINK
		delete(e.hist, a.Name)
		return
	}
	up := a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && a.Flags&1 != 0 && a.RawFlags&0x10000 != 0)
	hs := e.hist[a.Name]
	if hs == nil {
		hs = &history{up: up}
		if up {
			hs.lastUp = time.Now()
		}
		e.hist[a.Name] = hs
		return
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
}

// reconcile converges the kernel to the store, in dependency order.
func (e *Engine) reconcile() {
	cfg, err := e.load()
	if err != nil {
		slog.Warn("link: reading configuration", "err", err)
		return
	}
	e.applyEthers(cfg)
	e.applyBridges(cfg)
	e.applyVlans(cfg)
	e.applyIfaces(cfg)
	e.applyPorts(cfg)
	e.applyBridgeVlans(cfg)
	e.applyMdb(cfg)
	e.applyLists(cfg)
}

// config is one consistent read of the menus this engine applies.
type config struct {
	ifaces, ethers, bridges, vlans, ports, bvlans, mdbs, lists, members []store.Item
}

func (e *Engine) load() (*config, error) {
	c := &config{}
	err := e.ex.Store.View(func(tx *store.Tx) error {
		for _, x := range []struct {
			path string
			dst  *[]store.Item
		}{
			{"/interface", &c.ifaces}, {etherPath, &c.ethers}, {"/interface/bridge", &c.bridges}, {"/interface/vlan", &c.vlans},
			{"/interface/bridge/port", &c.ports}, {"/interface/bridge/vlan", &c.bvlans},
			{"/interface/bridge/mdb", &c.mdbs}, {"/interface/list", &c.lists}, {"/interface/list/member", &c.members},
		} {
			items, err := tx.List(x.path)
			if err != nil {
				return err
			}
			*x.dst = items
		}
		return nil
	})
	return c, err
}

// links returns the kernel's links by name.
func (e *Engine) links() map[string]netlink.Link {
	ls, err := e.h.LinkList()
	if err != nil {
		slog.Warn("link: listing links", "err", err)
	}
	out := make(map[string]netlink.Link, len(ls))
	for _, l := range ls {
		out[l.Attrs().Name] = l
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
func Known(ex *control.Executor, tx *store.Tx, name string) bool {
	if name == "" {
		return false
	}
	for _, m := range ex.Tree.All() {
		if !strings.HasPrefix(m.Path, "/interface/") || m.NameProp() != "name" || strings.HasPrefix(m.Path, "/interface/list") {
			continue
		}
		if _, ok := tx.ByName(m.Path, name); ok {
			return true
		}
	}
	_, err := netlink.LinkByName(name)
	return err == nil
}
