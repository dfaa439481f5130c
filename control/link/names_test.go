package link

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestKernelName(t *testing.T) {
	for _, short := range []string{"ether1", "ether1-WAN", "bridge", "fifteen-chars-x"} {
		if got := KernelName(short); got != short {
			t.Errorf("KernelName(%q) = %q, want the name itself", short, got)
		}
	}
	long := []string{"ether2-master-local", "ether2-master-localX", "bridge-local-very-long",
		"eoip-to-branch-office-1", "eoip-to-branch-office-2", strings.Repeat("x", MaxName),
		"ĉĉĉĉĉĉĉĉĉĉĉĉ"} // two-byte runes: the cut must not split one
	seen := map[string]string{}
	for _, n := range long {
		k := KernelName(n)
		if len(k) > maxKernelName || len(k) == 0 {
			t.Errorf("KernelName(%q) = %q: %d bytes", n, k, len(k))
		}
		if !derived(k) {
			t.Errorf("KernelName(%q) = %q does not look derived", n, k)
		}
		if KernelName(n) != k {
			t.Errorf("KernelName(%q) is not stable", n)
		}
		if !strings.HasPrefix(n, strings.Split(k, "~")[0]) {
			t.Errorf("KernelName(%q) = %q: prefix is not the name's", n, k)
		}
		if CheckName(k) != nil {
			t.Errorf("KernelName(%q) = %q is not a valid link name: %v", n, k, CheckName(k))
		}
		if o, dup := seen[k]; dup {
			t.Errorf("KernelName(%q) = KernelName(%q) = %q", n, o, k)
		}
		seen[k] = n
	}
	if derived("ether1") || derived("a~b") {
		t.Error("short names are not derived ones")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"ether2-master-local", strings.Repeat("y", MaxName), "WAN.100"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a:b", "ether 1", strings.Repeat("y", MaxName+1)} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}

func TestNamesMap(t *testing.T) {
	var none *Names // unit tests and engines without a host: derivation alone
	if none.Kernel("ether2-master-local") != KernelName("ether2-master-local") || none.RouterOS("ether1") != "ether1" {
		t.Error("a nil map must translate by KernelName")
	}
	n := NewNames()
	long := "ether2-master-local"
	k := KernelName(long)
	if got := n.RouterOS(k); got != k {
		t.Errorf("unknown derived name: RouterOS(%q) = %q, want it unchanged", k, got)
	}
	// A link event carrying the altname teaches the map.
	n.observe(&netlink.LinkAttrs{Name: k, AltNames: []string{"some-other-alias-name", long}})
	if got := n.RouterOS(k); got != long {
		t.Errorf("RouterOS(%q) = %q, want %q", k, got, long)
	}
	if got := n.Of(&netlink.LinkAttrs{Name: k}); got != long {
		t.Errorf("Of without altnames = %q, want the learned %q", got, long)
	}
	// A configured name (a kernel that kept no altname) teaches it too.
	n.learn("bridge-local-very-long")
	if got := n.RouterOS(KernelName("bridge-local-very-long")); got != "bridge-local-very-long" {
		t.Errorf("learned configured name: got %q", got)
	}
	// An altname that is not the one the kernel name derives from is not the RouterOS name.
	if got := rosName(&netlink.LinkAttrs{Name: "ether1", AltNames: []string{"ether1-uplink-to-core"}}); got != "ether1" {
		t.Errorf("rosName took an unrelated altname: %q", got)
	}
}
