package ipcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// Kernel is what the address and route engine reads from and changes in the kernel. A
// pass reads first and writes only what differs, so a pass with nothing changed makes
// no call of the second group. netlinkKernel is the real one; the plan tests run the
// engine against a fake that records every write (as wireguard-go tests against
// tun/tuntest), and test/netlink keeps testing the real kernel.
type Kernel interface {
	LinkList() ([]netlink.Link, error)
	// AddrList lists the addresses of a family (unix.AF_INET, AF_INET6) with the
	// protocol that marks routerd's (Proto).
	AddrList(family int) ([]kaddr, error)
	// RouteList lists the routes of a family in every table.
	RouteList(family int) ([]netlink.Route, error)

	// AddrAdd installs an address marked with Proto; peer, when valid, makes it
	// point-to-point.
	AddrAdd(index int, p netip.Prefix, noDAD bool, peer netip.Addr) error
	// AddrAdopt marks an address another owner installed (the OS's network
	// configuration) with Proto in place, so its routes and sockets stay: an item now
	// owns it.
	AddrAdopt(index int, p netip.Prefix, noDAD bool, peer netip.Addr) error
	AddrDel(index int, p netip.Prefix) error
	// RoutesReplace installs routes (replacing what has their key) and returns an error
	// per route (nil: installed).
	RoutesReplace(rs []*netlink.Route) []error
	RouteDel(r *netlink.Route) error

	Close()
}

// netlinkKernel is the kernel of the namespace routerd runs in.
type netlinkKernel struct {
	h *netlink.Handle
	// inject, in tests, runs in each route worker before its first route; a test makes
	// it panic to show that the pass survives.
	inject func(worker int)
}

// NewKernel opens the real kernel (a netlink socket of the calling thread's namespace).
func NewKernel() (Kernel, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	return netlinkKernel{h: h}, nil
}

// Dumps that raced a change are repeated (package nldump), not a failed pass.
func (k netlinkKernel) LinkList() ([]netlink.Link, error) { return nldump.Retry(k.h.LinkList) }
func (netlinkKernel) AddrList(family int) ([]kaddr, error) {
	return nldump.Retry(func() ([]kaddr, error) { return addrDump(family) })
}
func (k netlinkKernel) RouteList(family int) ([]netlink.Route, error) {
	return nldump.Retry(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
}
func (netlinkKernel) AddrAdd(index int, p netip.Prefix, noDAD bool, peer netip.Addr) error {
	return addrNew(index, p, noDAD, peer, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
}
func (netlinkKernel) AddrAdopt(index int, p netip.Prefix, noDAD bool, peer netip.Addr) error {
	return addrNew(index, p, noDAD, peer, unix.NLM_F_REPLACE)
}
func (netlinkKernel) AddrDel(index int, p netip.Prefix) error { return addrDel(index, p) }
func (k netlinkKernel) RouteDel(r *netlink.Route) error       { return k.h.RouteDel(r) }
func (k netlinkKernel) Close()                                { k.h.Close() }

// ErrInternal is the error of a route a recovered panic left uninstalled.
var ErrInternal = errors.New("internal error")

// replaceWorkers is how many netlink sockets install routes at once: the kernel takes
// them one at a time, but each request's round trip overlaps with the others', which
// matters for an import of thousands of routes.
const replaceWorkers = 4

// RoutesReplace installs a few routes on the engine's handle, many spread over several
// handles.
func (k netlinkKernel) RoutesReplace(rs []*netlink.Route) []error {
	errs := make([]error, len(rs))
	if len(rs) < 64 {
		for i, r := range rs {
			errs[i] = k.h.RouteReplace(r)
		}
		return errs
	}
	var wg sync.WaitGroup
	for w := 0; w < replaceWorkers; w++ {
		wg.Add(1)
		// Joined below, within the pass, which the engine host runs under its
		// recovery; a panic here would escape that (another goroutine), so the worker
		// recovers it: its routes not yet done fail with the internal error, which
		// marks their items invalid, and the pass goes on.
		go func(w int) {
			defer wg.Done()
			done := w // the next route of this worker
			defer func() {
				if p := recover(); p != nil {
					slog.Error("ipcfg: internal error installing routes", "panic", p, "stack", string(debug.Stack()))
					for i := done; i < len(rs); i += replaceWorkers {
						errs[i] = fmt.Errorf("%w: %v", ErrInternal, p)
					}
				}
			}()
			if k.inject != nil {
				k.inject(w)
			}
			h, err := netlink.NewHandle()
			if err != nil {
				for i := w; i < len(rs); i += replaceWorkers {
					errs[i] = err
				}
				return
			}
			defer h.Close()
			for ; done < len(rs); done += replaceWorkers {
				errs[done] = h.RouteReplace(rs[done])
			}
		}(w)
	}
	wg.Wait()
	return errs
}

var _ Kernel = netlinkKernel{}
