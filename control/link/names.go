package link

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/vishvananda/netlink"
)

// Interface names: RouterOS allows names far longer than Linux's 15 bytes (RouterOS 6
// exports are full of `ether2-master-local`), so a RouterOS name and the kernel's link
// name are two things. The kernel name is the RouterOS name when it fits, else a short
// name derived from it (KernelName: stable, so a restart finds the same link); the
// RouterOS name is set as the link's alternative name (IFLA_ALT_IFNAME, up to 127 bytes),
// so `ip link show ether2-master-local` works for the operator and netlink lookups by the
// long name find the link. Everything routerd shows is the RouterOS name; what goes to
// the kernel by name (nftables iifname, SO_BINDTODEVICE, a link's IFLA_IFNAME) is the
// kernel name. The link engine owns the map and offers it to the others as *Names.

// MaxName is the longest RouterOS interface name routerd accepts: the kernel's limit on
// an alternative name (ALTIFNAMSIZ 128, with the terminating NUL).
const MaxName = 127

// maxKernelName is IFNAMSIZ-1: the longest name a Linux link can have.
const maxKernelName = 15

// KernelName is the kernel link name for a RouterOS interface name: the name itself when
// it fits in 15 bytes, else its first 10 bytes, "~" and 4 hex digits of a hash of the
// whole name. It depends on nothing but the name, so every engine and every restart
// derives the same one.
func KernelName(ros string) string {
	if len(ros) <= maxKernelName {
		return ros
	}
	h := fnv.New32a()
	h.Write([]byte(ros))
	cut := 10
	for cut > 0 && !utf8.RuneStart(ros[cut]) {
		cut--
	}
	return fmt.Sprintf("%s~%04x", ros[:cut], h.Sum32()&0xffff)
}

// derived reports whether kernel is the derived kernel name of a longer name (it has
// the shape KernelName gives such a name).
func derived(kernel string) bool {
	i := strings.LastIndexByte(kernel, '~')
	return len(kernel) <= maxKernelName && i >= 0 && len(kernel)-i == 5
}

// CheckName says why name cannot be an interface name, or nil: the kernel's rules for
// link and alternative names (no '/', ':' or white space, not "." or "..") and the
// alternative name's length.
func CheckName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case len(name) > MaxName:
		return fmt.Errorf("interface name is longer than %d characters", MaxName)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("interface name %q has a character Linux does not allow in link names (/, : or space)", name)
	}
	return nil
}

// Names maps RouterOS interface names to kernel link names and back. The link engine
// keeps it current from the kernel's link events (each link's alternative names) and
// from the names configured in /interface menus; other engines get it with
// engine.Lookup[*link.Names] and translate at their kernel boundary. A nil *Names
// translates by KernelName alone (unit tests without a host).
type Names struct {
	mu  sync.RWMutex
	ros map[string]string // kernel name -> RouterOS name, for names that differ
}

// NewNames returns an empty map.
func NewNames() *Names { return &Names{ros: map[string]string{}} }

// Kernel is the kernel link name of the RouterOS interface name ros.
func (n *Names) Kernel(ros string) string { return KernelName(ros) }

// RouterOS is the RouterOS name of the kernel link called kernel: the long name it was
// derived from when the link carries it as an alternative name or it is configured,
// else the kernel name itself.
func (n *Names) RouterOS(kernel string) string {
	if n == nil || !derived(kernel) {
		return kernel
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if r, ok := n.ros[kernel]; ok {
		return r
	}
	return kernel
}

// Of is the RouterOS name of a link the kernel described: the long name its kernel
// name was derived from (its alternative name, else the configured name), else the
// kernel name.
func (n *Names) Of(a *netlink.LinkAttrs) string {
	if r := rosName(a); r != a.Name {
		return r
	}
	return n.RouterOS(a.Name)
}

// learn records that the RouterOS name ros is (or will be) the kernel link KernelName(ros).
func (n *Names) learn(ros string) {
	if n == nil || len(ros) <= maxKernelName {
		return
	}
	k := KernelName(ros)
	n.mu.Lock()
	n.ros[k] = ros
	n.mu.Unlock()
}

// observe learns the RouterOS name of a link from its alternative names.
func (n *Names) observe(a *netlink.LinkAttrs) {
	if r := rosName(a); r != a.Name {
		n.learn(r)
	}
}

// rosName is the RouterOS name of a link: the alternative name its kernel name was
// derived from, else its kernel name.
func rosName(a *netlink.LinkAttrs) string {
	if !derived(a.Name) {
		return a.Name
	}
	for _, alt := range a.AltNames {
		if KernelName(alt) == a.Name {
			return alt
		}
	}
	return a.Name
}

// nameOf is the RouterOS name of a link as this engine shows it: from its alternative
// names, else from the configured names the map learned (a kernel without altnames).
func (e *Engine) nameOf(a *netlink.LinkAttrs) string { return e.names.Of(a) }

// setAltName gives the link l the RouterOS name ros as its alternative name when the
// kernel name differs, so the operator's `ip link show ros` and lookups by it work. A
// kernel without alternative names (before 5.5) gets an error the caller shows; routerd
// itself keeps working from its map.
func (e *Engine) setAltName(l netlink.Link, ros string) error {
	a := l.Attrs()
	if a.Name == ros {
		return nil
	}
	for _, alt := range a.AltNames {
		if alt == ros {
			return nil
		}
	}
	if err := e.h.LinkAddAltName(l, ros); err != nil {
		return fmt.Errorf("cannot set alternative name %s on %s (the kernel link keeps its short name): %w", ros, a.Name, err)
	}
	return nil
}

// dropAltName removes the alternative name a renamed link kept from its earlier long
// RouterOS name prev, so the old name stops finding it.
func (e *Engine) dropAltName(l netlink.Link, prev, now string) {
	if prev == now || len(prev) <= maxKernelName {
		return
	}
	if err := e.h.LinkDelAltName(l, prev); err != nil {
		slog.Debug("link: dropping old alternative name", "link", l.Attrs().Name, "name", prev, "err", err)
	}
}
