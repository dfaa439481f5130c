package link

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control/store"
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
		if !kernelSafe(k) {
			t.Errorf("KernelName(%q) = %q is not a valid link name", n, k)
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
	// RouterOS takes these (real exports carry them); the kernel does not, the map does.
	for _, ok := range []string{"ether2-master-local", strings.Repeat("y", MaxName), "WAN.100",
		".", "..", "vlan10/office", "sfp:1", "ether1 - WAN", "à", "Sa\xedda 01 - Aberta", "\xff\xfe"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\x00b", "tab\there", "del\x7f", strings.Repeat("y", MaxName+1)} {
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

// TestKernelNameUnsafe: names with characters the kernel refuses get a derived name the
// kernel takes, even when short, and no alternative name.
func TestKernelNameUnsafe(t *testing.T) {
	for _, n := range []string{"ether1 - WAN", "vlan10/office", "sfp:1", ".", "..", "a b", "x\u00a0y", "àààààààààà", "Sa\xedda 01 - Aberta"} {
		k := KernelName(n)
		if k == n || !kernelSafe(k) || len(k) > maxKernelName || !derived(k) {
			t.Errorf("KernelName(%q) = %q: not a valid derived kernel name", n, k)
		}
		if !utf8.ValidString(k) {
			t.Errorf("KernelName(%q) = %q is not UTF-8", n, k)
		}
		if AltNameOK(n) {
			t.Errorf("AltNameOK(%q): the kernel refuses it", n)
		}
		if !derivesFrom(n, k) {
			t.Errorf("derivesFrom(%q, %q) false", n, k)
		}
	}
	if got := KernelName("ether1 - WAN"); !strings.HasPrefix(got, "ether1_-_W~") {
		t.Errorf("KernelName(ether1 - WAN) = %q, want the prefix ether1_-_W~", got)
	}
	if !AltNameOK("ether2-master-local") || AltNameOK(strings.Repeat("z", MaxName+1)) {
		t.Error("AltNameOK wrong for plain names")
	}
}

// collidingNames constructs two RouterOS names with the same derived kernel name.
func collidingNames(t *testing.T) (string, string) {
	seen := map[string]string{}
	for i := 0; i < 1<<20; i++ {
		n := fmt.Sprintf("collision-test-%d", i)
		k := KernelName(n)
		if o, ok := seen[k]; ok {
			return o, n
		}
		seen[k] = n
	}
	t.Fatal("no collision found")
	return "", ""
}

// TestNamesCollision: the second name whose derived kernel name is taken gets the next
// free candidate, every engine asking gets the same, and the assignment survives a
// restart (persisted in the store) and is freed when the name goes.
func TestNamesCollision(t *testing.T) {
	a, b := collidingNames(t)
	if KernelName(a) != KernelName(b) {
		t.Fatalf("constructed names do not collide: %q %q", a, b)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := NewNames()
	ka, kb := n.Kernel(a), n.Kernel(b)
	if ka != KernelName(a) || kb == ka || !derived(kb) || !derivesFrom(b, kb) {
		t.Fatalf("Kernel(%q)=%q Kernel(%q)=%q: want the derived name and a distinct next candidate", a, ka, b, kb)
	}
	if n.Kernel(b) != kb || n.RouterOS(kb) != b || n.RouterOS(ka) != a {
		t.Fatal("the map does not answer the assignment back")
	}
	if got := n.Of(&netlink.LinkAttrs{Name: kb}); got != b {
		t.Errorf("Of(%q) = %q, want %q", kb, got, b)
	}
	if got := rosName(&netlink.LinkAttrs{Name: kb, AltNames: []string{b}}); got != b {
		t.Errorf("rosName with the moved name's altname = %q, want %q", got, b)
	}
	if err := n.save(st); err != nil {
		t.Fatal(err)
	}
	// A restart: the persisted assignment is loaded first, so b keeps its kernel name
	// even when it is learned before a.
	m := NewNames()
	if err := st.View(func(tx *store.Tx) error { m.load(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Kernel(b) != kb || m.Kernel(a) != ka {
		t.Errorf("after restart: %q -> %q, %q -> %q; want %q, %q", b, m.Kernel(b), a, m.Kernel(a), kb, ka)
	}
	// b goes: its kernel name is free again and no longer persisted.
	m.retain(m.mark(), func(ros, _ string) bool { return ros != b })
	if err := m.save(st); err != nil {
		t.Fatal(err)
	}
	if err := st.View(func(tx *store.Tx) error {
		if v := tx.Meta(metaKey); v != "" {
			t.Errorf("persisted after the name went: %s", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if m.RouterOS(kb) != kb {
		t.Errorf("forgotten kernel name still maps to %q", m.RouterOS(kb))
	}
	// Assignments newer than the mark survive a prune (a name learned by another engine
	// after the pass read the configuration).
	mk := m.mark()
	c := "a-name-learned-after-the-mark"
	m.Kernel(c)
	m.retain(mk, func(string, string) bool { return false })
	if m.RouterOS(KernelName(c)) != c {
		t.Error("a newer assignment was pruned")
	}
}

// TestNamesOfWithoutAltnames: the map, not the kernel's alternative names, is the source
// of the RouterOS name (a kernel without altnames, a name the kernel refuses).
func TestNamesOfWithoutAltnames(t *testing.T) {
	n := NewNames()
	for _, ros := range []string{"ether1 - WAN", "bridge-local-very-long"} {
		n.learn(ros)
		if got := n.Of(&netlink.LinkAttrs{Name: KernelName(ros)}); got != ros {
			t.Errorf("Of(%q) = %q, want %q", KernelName(ros), got, ros)
		}
	}
	links := []netlink.Link{&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: KernelName("ether1 - WAN"), Alias: ownerAlias}}}
	if infos := classify(links, map[string]bool{"ether1 - WAN": true}, func(string) bool { return false }, ethernetLike, n); infos[0].name != "ether1 - WAN" || !infos[0].static {
		t.Errorf("interface lists see %+v, want the RouterOS name, static", infos[0])
	}
}
