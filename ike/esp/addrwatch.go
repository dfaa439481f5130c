package esp

import (
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// addrSettle is the quiet period after a sync of the routes with the host's addresses:
// the first change is synced at once (a network just added must not go into the tunnel
// for longer than a sync takes), and the changes that come within addrSettle of a sync
// (the rest of a burst: an address with its peer, a DHCP lease replacing another, IPv6
// duplicate address detection finishing, a script adding many) are synced together
// once it ends. A flood so costs one sync per addrSettle, and cannot put a sync off.
const addrSettle = 200 * time.Millisecond

// addrRetry is the pause before subscribing again after the kernel dropped the
// subscription (ENOBUFS: events lost, hence the sync that follows).
const addrRetry = time.Second

// addrState is the address watch's state in the data path.
type addrState struct {
	// syncs counts the syncs after address changes: tests bound them under a burst.
	syncs atomic.Uint64
	// err is what the last sync after an address change failed with (errKey, polMu),
	// logged once until it changes (noteAddrSync).
	err string
}

// subscribeAddrs subscribes to the address changes of the data path's namespace (polMu
// held, or during Open: the namespace's handle is closed by closeAll).
func (u *userspace) subscribeAddrs() (chan netlink.AddrUpdate, error) {
	ch := make(chan netlink.AddrUpdate, 256)
	opt := netlink.AddrSubscribeOptions{ErrorCallback: func(err error) {
		if !u.closed.Load() {
			u.cfg.logger().Warn("ipsec: ESP data path: address subscription", "err", err)
		}
	}}
	if u.nsFd > 0 {
		ns := netns.NsHandle(u.nsFd)
		opt.Namespace = &ns
	}
	if err := netlink.AddrSubscribeWithOptions(ch, u.done, opt); err != nil {
		return nil, err
	}
	return ch, nil
}

// addrWatch keeps keepLocal's throws those of the host's addresses of the moment: the
// policies are set rarely (a new SA's, a peer's), while an address can come at any time
// (an /ip address added, a DHCP lease, a point-to-point peer). Without it, a network
// that appeared after the last SetPolicies has no throw under a full tunnel: the router's
// own traffic to it enters the device and is bypassed from userspace, and the policy's
// sources' traffic to it is encrypted although it is local; a removed network's throw
// would stay. The steering routes' sources (localAddrIn) follow as well.
func (u *userspace) addrWatch(ch chan netlink.AddrUpdate) {
	var quiet <-chan time.Time // until the quiet period after the last sync ends
	dirty := false             // a change came during the quiet period
	for {
		select {
		case <-u.done:
			// The library's reader blocks on a full channel and would never see its
			// socket closed: let it run to its end.
			go func() {
				for range ch {
				}
			}()
			return
		case a, ok := <-ch:
			if !ok {
				ch = u.resubscribeAddrs()
				if ch == nil {
					return
				}
			} else if d := u.dev.Load(); d != nil && a.LinkIndex == d.idx {
				continue // the device's own addresses are never thrown
			}
			if quiet != nil {
				dirty = true
				continue
			}
			u.drainAddrs(ch)
			u.refreshLocal()
			quiet = time.After(addrSettle)
		case <-quiet:
			quiet = nil
			if dirty {
				dirty = false
				u.refreshLocal()
				quiet = time.After(addrSettle)
			}
		}
	}
}

// drainAddrs takes the changes already queued (the rest of the burst the first one
// came with): the sync that follows sees them all, the quiet period need not.
func (u *userspace) drainAddrs(ch chan netlink.AddrUpdate) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return // addrWatch's next receive resubscribes
			}
		default:
			return
		}
	}
}

// resubscribeAddrs subscribes again after the subscription ended, until it works or
// the data path is closed (nil).
func (u *userspace) resubscribeAddrs() chan netlink.AddrUpdate {
	for {
		select {
		case <-u.done:
			return nil
		case <-time.After(addrRetry):
		}
		u.polMu.Lock()
		if u.closed.Load() {
			u.polMu.Unlock()
			return nil
		}
		ch, err := u.subscribeAddrs()
		u.polMu.Unlock()
		if err == nil {
			return ch
		}
		u.cfg.logger().Warn("ipsec: ESP data path: address subscription", "err", err)
	}
}

// refreshLocal syncs the routes of the policies in place with the host's addresses.
func (u *userspace) refreshLocal() {
	defer u.recovered("addr", stOutErrors)
	u.polMu.Lock()
	defer u.polMu.Unlock()
	if u.closed.Load() {
		return
	}
	ps := u.pols.Load()
	if ps == nil {
		return
	}
	u.addrs.syncs.Add(1)
	u.noteAddrSync(u.syncRoutes(*ps))
}

// noteAddrSync logs the route errors of a sync after an address change once until they
// change or clear (polMu held; SetPolicies' success clears them too, its errors are its
// caller's to log): a route the kernel keeps refusing (a source address
// that failed duplicate address detection) fails again at every address change, and
// /log keeps a fixed number of lines. Repeats go to debug; the line that says the
// routes are in place again tells the operator the warning no longer holds.
func (u *userspace) noteAddrSync(err error) {
	key := errKey(err)
	switch {
	case key == u.addrs.err:
		if err != nil {
			u.cfg.logger().Debug("ipsec: ESP data path: routes after an address change (still)", "err", err)
		}
	case err == nil:
		u.cfg.logger().Info("ipsec: ESP data path: routes in place again after an address change")
	default:
		u.cfg.logger().Warn("ipsec: ESP data path: routes after an address change", "err", err)
	}
	u.addrs.err = key
}

// errKey names err by its lines, sorted: syncRoutes joins its routes' errors in map
// order, so the same errors come in any order.
func errKey(err error) string {
	if err == nil {
		return ""
	}
	lines := strings.Split(err.Error(), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func (c *Config) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
