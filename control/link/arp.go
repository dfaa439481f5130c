package link

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/value"
)

// ARPSysctls are the sysctls (under /proc/sys) that give the link with kernel name
// ifname RouterOS's ARP mode and arp-timeout; ARP itself is on unless the mode is
// disabled (ARPOn). The tunnel engine applies the same table to EoIP interfaces.
//   - disabled: no ARP at all (IFF_NOARP); neighbours come from static entries only;
//   - proxy-arp: answer for addresses routed elsewhere; local-proxy-arp: also for hosts
//     on this same interface (proxy_arp_pvlan);
//   - reply-only: answer requests but send none, so that only static entries resolve
//     (no solicitations), and take nothing from gratuitous ARP;
//   - arp-timeout: how long an entry stays reachable (base_reachable_time); auto is the
//     kernel's 30 s.
func ARPSysctls(ifname, mode, timeout string) [][2]string {
	proxy, pvlan := "0", "0"
	switch mode {
	case "proxy-arp":
		proxy = "1"
	case "local-proxy-arp":
		pvlan = "1"
	}
	solicit, ignore := "3", "0"
	if mode == "reply-only" {
		solicit, ignore = "0", "1"
	}
	reachable := int64(30000)
	if d, err := value.ParseDuration(timeout); err == nil && d > 0 {
		reachable = d.Milliseconds()
	}
	return [][2]string{
		{"net/ipv4/conf/" + ifname + "/proxy_arp", proxy},
		{"net/ipv4/conf/" + ifname + "/proxy_arp_pvlan", pvlan},
		{"net/ipv4/neigh/" + ifname + "/mcast_solicit", solicit},
		{"net/ipv4/neigh/" + ifname + "/ucast_solicit", solicit},
		{"net/ipv4/neigh/" + ifname + "/app_solicit", "0"},
		{"net/ipv4/conf/" + ifname + "/drop_gratuitous_arp", ignore},
		{"net/ipv4/neigh/" + ifname + "/base_reachable_time_ms", strconv.FormatInt(reachable, 10)},
	}
}

// ARPOn reports whether a link in ARP mode mode runs ARP (IFF_NOARP clear).
func ARPOn(mode string) bool { return mode != "disabled" }

// applyARP gives link l (RouterOS name name) the ARP mode and timeout, writing only what
// differs (a pass with nothing changed writes nothing).
func (e *Engine) applyARP(l netlink.Link, mode, timeout string) error {
	a := l.Attrs()
	if on := ARPOn(mode); (a.RawFlags&unix.IFF_NOARP == 0) != on {
		if err := e.h.LinkSetARP(l, on); err != nil {
			return fmt.Errorf("arp: %w", err)
		}
	}
	for _, s := range ARPSysctls(a.Name, mode, timeout) {
		cur, err := e.h.Sysctl(s[0])
		if errors.Is(err, os.ErrNotExist) || (err == nil && cur == s[1]) {
			continue // a knob this kernel lacks, or already so
		}
		if err := e.h.SetSysctl(s[0], s[1]); err != nil {
			return fmt.Errorf("arp: sysctl %s: %w", s[0], err)
		}
	}
	return nil
}
