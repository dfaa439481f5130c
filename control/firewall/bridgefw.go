package firewall

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
)

// BridgeSettingsPath is /interface bridge settings, whose use-ip-firewall properties say
// whether bridged traffic passes the IP firewall. RouterOS's default is no: bridged
// packets go from port to port without the ip and ip6 hooks. Linux's br_netfilter hands
// bridged IPv4 and IPv6 packets to the ip and ip6 prerouting, forward and postrouting
// hooks while the namespace's net.bridge.bridge-nf-call-iptables (ip6tables) is 1, the
// kernel's default; VLAN-tagged and PPPoE frames while bridge-nf-filter-vlan-tagged
// (pppoe-tagged) is 1 as well. The engine writes the four knobs of its namespace. (The
// bridges' own nf_call_iptables can only add to the namespace's knob, not take away.)
const BridgeSettingsPath = menu.BridgeSettingsPath

// brnfDir holds br_netfilter's knobs (per network namespace).
const brnfDir = "/proc/sys/net/bridge"

// ErrNoBrNetfilter is a kernel without br_netfilter: bridged traffic never passes the IP
// firewall there.
var ErrNoBrNetfilter = errors.New("the kernel has no br_netfilter (CONFIG_BRIDGE_NETFILTER): bridged traffic cannot pass the IP firewall")

// brnfKnobs maps the settings to br_netfilter's knobs.
var brnfKnobs = []struct{ prop, knob string }{
	{"use-ip-firewall", "bridge-nf-call-iptables"},
	{"use-ip-firewall", "bridge-nf-call-ip6tables"},
	{"use-ip-firewall-for-vlan", "bridge-nf-filter-vlan-tagged"},
	{"use-ip-firewall-for-pppoe", "bridge-nf-filter-pppoe-tagged"},
}

// applyBridgeSettings writes use-ip-firewall and its companions to br_netfilter in the
// engine's namespace (only what differs) and marks the settings invalid when the kernel
// cannot do what they ask.
func (e *Engine) applyBridgeSettings() error {
	items, err := e.ex.Items(BridgeSettingsPath)
	if err != nil {
		return err
	}
	props := map[string]string{}
	if len(items) > 0 {
		props = items[0].Props
	}
	m, _ := e.ex.Tree.Get(BridgeSettingsPath)
	val := func(prop string) string {
		if v := props[prop]; v != "" {
			return v
		}
		if m != nil {
			if p, ok := m.Prop(prop); ok {
				return p.Default
			}
		}
		return "no"
	}
	var st control.ItemState
	aerr := inNetNS(e.k.NetNS, func() error {
		if _, err := os.Stat(brnfDir); err != nil {
			if val("use-ip-firewall") == "yes" {
				return ErrNoBrNetfilter
			}
			return nil // nothing to turn off
		}
		for _, k := range brnfKnobs {
			on := val(k.prop) == "yes"
			if k.prop != "use-ip-firewall" { // RouterOS: only with use-ip-firewall
				on = on && val("use-ip-firewall") == "yes"
			}
			v := "0"
			if on {
				v = "1"
			}
			if err := setSysctl(filepath.Join(brnfDir, k.knob), v); err != nil {
				return fmt.Errorf("bridge settings: %s: %w", k.knob, err)
			}
		}
		return nil
	})
	if aerr != nil {
		st.Invalid, st.Status = true, aerr.Error()
	}
	e.ex.State.Set(BridgeSettingsPath, 1, st) // a Single menu's item is 1
	return aerr
}

// inNetNS runs fn on a thread in the network namespace fd (0: the process's own), for
// /proc/sys/net, which shows the calling thread's namespace.
func inNetNS(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns: %w", err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so no other goroutine runs in the wrong namespace;
		// it ends with its goroutine.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
