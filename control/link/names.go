package link

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/store"
)

// Interface names: RouterOS allows names far longer than Linux's 15 bytes (RouterOS 6
// exports are full of `ether2-master-local`) and characters Linux refuses in a link name
// (`ether1 - WAN`, `vlan10/office`, `sfp:1`), so a RouterOS name and the kernel's link
// name are two things. The kernel name is the RouterOS name when the kernel takes it,
// else a short name derived from it (KernelName: stable, so a restart finds the same
// link). The map (*Names) is the source of truth for the way back: every configured name
// is learned into it, and where the derived names of two RouterOS names collide the
// later one gets the next free suffix, persisted in the store so a restart (or a kernel
// that keeps the links) assigns the same. Where the kernel takes the RouterOS name as an
// alternative name (IFLA_ALT_IFNAME: up to 127 bytes, no '/', ':' or white space) it is
// set too, so `ip link show ether2-master-local` works for the operator. Everything
// routerd shows is the RouterOS name; what goes to the kernel by name (nftables iifname,
// SO_BINDTODEVICE, a link's IFLA_IFNAME) is the kernel name. The link engine owns the
// map and offers it to the others as *Names.

// MaxName is the longest RouterOS interface name routerd accepts: the kernel's limit on
// an alternative name (ALTIFNAMSIZ 128, with the terminating NUL).
const MaxName = 127

// maxKernelName is IFNAMSIZ-1: the longest name a Linux link can have.
const maxKernelName = 15

// kernelSpace reports the bytes the kernel's isspace() is true for (lib/ctype.c, Latin-1:
// 0xa0, no-break space, is one), which dev_valid_name refuses in link names.
func kernelSpace(b byte) bool {
	return b == ' ' || (b >= '\t' && b <= '\r') || b == 0xa0
}

// bytesSafe reports whether s has none of the bytes dev_valid_name refuses.
func bytesSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b == '/' || b == ':' || kernelSpace(b) {
			return false
		}
	}
	return true
}

// kernelSafe reports whether the kernel takes name as a link or alternative name as far
// as its characters go (dev_valid_name): no '/', ':' or white space, not "." or "..".
func kernelSafe(name string) bool {
	return name != "" && name != "." && name != ".." && bytesSafe(name)
}

// AltNameOK reports whether the kernel can carry the RouterOS name ros as a link's
// alternative name (names with '/', ':' or white space live only in the map).
func AltNameOK(ros string) bool { return len(ros) <= MaxName && kernelSafe(ros) }

// KernelName is the kernel link name for a RouterOS interface name: the name itself when
// the kernel takes it (15 bytes at most, none of '/', ':' and white space), else its
// first 10 bytes (those characters replaced by '_'), "~" and 4 hex digits of a hash of
// the whole name. It depends on nothing but the name, so every engine and every restart
// derives the same one; *Names.Kernel is the same unless two names collide.
func KernelName(ros string) string { return kernelName(ros, 0) }

// kernelName is the n-th candidate kernel name of ros: KernelName for n 0, else the same
// prefix with the hash of the name and n (the suffixes a collision moves on to).
func kernelName(ros string, n int) string {
	if n == 0 && len(ros) <= maxKernelName && kernelSafe(ros) {
		return ros
	}
	h := fnv.New32a()
	h.Write([]byte(ros))
	if n > 0 {
		fmt.Fprintf(h, "\x00%d", n)
	}
	var b strings.Builder
	for _, r := range ros {
		w := utf8.RuneLen(r)
		if w < 0 {
			w = 1 // invalid byte, decoded as U+FFFD: replaced below
		}
		if b.Len()+w > 10 {
			break
		}
		if enc := string(r); r != utf8.RuneError && bytesSafe(enc) {
			b.WriteString(enc)
		} else {
			b.WriteByte('_')
		}
	}
	return fmt.Sprintf("%s~%04x", b.String(), h.Sum32()&0xffff)
}

// derived reports whether kernel is the derived kernel name of a longer name (it has
// the shape KernelName gives such a name).
func derived(kernel string) bool {
	i := strings.LastIndexByte(kernel, '~')
	return len(kernel) <= maxKernelName && i >= 0 && len(kernel)-i == 5
}

// CheckName says why name cannot be an interface name, or nil. RouterOS takes any text
// (exports carry `ether1 - WAN`, `vlan10/office`, `sfp:1`, and Latin-1 bytes written
// `Sa\EDda 01`, which are kept as the bytes they are); it refuses an empty name, and
// control characters cannot be typed into one. The length is the kernel's limit on an
// alternative name, so that a name the kernel takes is kept there.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name must not be empty")
	case len(name) > MaxName:
		return fmt.Errorf("interface name is longer than %d characters", MaxName)
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b < 0x20 || b == 0x7f {
			return fmt.Errorf("interface name %q has a control character", name)
		}
	}
	return nil
}

// metaKey is the store's meta entry that keeps the kernel names collisions moved on to
// (RouterOS name -> kernel name, JSON), so every start assigns them alike.
const metaKey = "link.kernel-names"

// Names maps RouterOS interface names to kernel link names and back. The link engine
// keeps it current from the names configured in /interface menus and from the kernel's
// link events (each link's alternative names); other engines get it with
// engine.Lookup[*link.Names] and translate at their kernel boundary. A nil *Names
// translates by KernelName alone (unit tests without a host).
type Names struct {
	mu   sync.RWMutex
	ros  map[string]string // kernel name -> RouterOS name, for names that differ
	kern map[string]string // RouterOS name -> kernel name, for names that differ
	seq  map[string]uint64 // RouterOS name -> when it was assigned (see retain)
	next uint64
	// moved are the assignments a collision moved off KernelName, persisted under
	// metaKey; dirty says they changed since the last save.
	moved map[string]string
	dirty bool
}

// NewNames returns an empty map.
func NewNames() *Names {
	return &Names{ros: map[string]string{}, kern: map[string]string{}, seq: map[string]uint64{},
		moved: map[string]string{}}
}

// Kernel is the kernel link name of the RouterOS interface name ros. A name the kernel
// takes is itself; another gets its derived name, or when that belongs to another
// RouterOS name already, the next free candidate (recorded, so every engine gets the same).
func (n *Names) Kernel(ros string) string {
	if n == nil || (len(ros) <= maxKernelName && kernelSafe(ros)) {
		return KernelName(ros)
	}
	n.mu.RLock()
	k, ok := n.kern[ros]
	n.mu.RUnlock()
	if ok {
		return k
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.assign(ros, "")
}

// assign gives ros its kernel name (want when it is free and not empty, else the first
// free candidate); n.mu is held.
func (n *Names) assign(ros, want string) string {
	if k, ok := n.kern[ros]; ok {
		return k
	}
	k := want
	if o, taken := n.ros[k]; k == "" || (taken && o != ros) {
		for i := 0; ; i++ {
			k = kernelName(ros, i)
			if o, taken := n.ros[k]; !taken || o == ros {
				break
			}
		}
	}
	n.next++
	n.kern[ros], n.ros[k], n.seq[ros] = k, ros, n.next
	if k != KernelName(ros) {
		if n.moved[ros] != k {
			n.moved[ros], n.dirty = k, true
		}
		slog.Info("link: derived kernel name taken by another interface, moved on", "name", ros, "kernel", k, "derived", KernelName(ros))
	}
	return k
}

// RouterOS is the RouterOS name of the kernel link called kernel: the name it was
// assigned to, else the kernel name itself.
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

// Of is the RouterOS name of a link the kernel described: the name the map assigned its
// kernel name to, else the alternative name its kernel name derives from (a link routerd
// has not learned yet), else the kernel name.
func (n *Names) Of(a *netlink.LinkAttrs) string {
	if r := n.RouterOS(a.Name); r != a.Name {
		return r
	}
	return rosName(a)
}

// learn records that the RouterOS name ros is (or will be) a kernel link.
func (n *Names) learn(ros string) {
	if n == nil || (len(ros) <= maxKernelName && kernelSafe(ros)) {
		return
	}
	n.Kernel(ros)
}

// observe learns the RouterOS name of a link from its alternative names: the kernel
// already has it, so it keeps its kernel name unless another name has that.
func (n *Names) observe(a *netlink.LinkAttrs) {
	r := rosName(a)
	if r == a.Name || n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.assign(r, a.Name)
}

// load seeds the map with the persisted moved assignments (before any name is learned,
// so they keep their kernel names).
func (n *Names) load(tx *store.Tx) {
	v := tx.Meta(metaKey)
	if v == "" {
		return
	}
	m := map[string]string{}
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		slog.Warn("link: stored kernel names unreadable; collisions are assigned afresh", "err", err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ros, k := range m {
		if o, taken := n.ros[k]; taken && o != ros {
			continue
		}
		n.next++
		n.kern[ros], n.ros[k], n.seq[ros], n.moved[ros] = k, ros, n.next, k
	}
}

// mark is the point retain compares assignments with: those made after it stay.
func (n *Names) mark() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.next
}

// retain forgets the names assigned up to mark that keep does not want (no longer
// configured, no link), so their kernel names are free again.
func (n *Names) retain(mark uint64, keep func(ros, kernel string) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ros, k := range n.kern {
		if n.seq[ros] > mark || keep(ros, k) {
			continue
		}
		delete(n.kern, ros)
		delete(n.ros, k)
		delete(n.seq, ros)
		if _, ok := n.moved[ros]; ok {
			delete(n.moved, ros)
			n.dirty = true
		}
	}
}

// save persists the moved assignments when they changed.
func (n *Names) save(st *store.Store) error {
	n.mu.Lock()
	if !n.dirty {
		n.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(n.moved)
	n.dirty = false
	n.mu.Unlock()
	if err != nil {
		return err
	}
	err = st.Update(func(tx *store.Tx) error {
		if string(b) == "{}" {
			return tx.DeleteMeta(metaKey)
		}
		return tx.SetMeta(metaKey, string(b))
	})
	if err != nil {
		n.mu.Lock()
		n.dirty = true
		n.mu.Unlock()
	}
	return err
}

// rosName is the RouterOS name of a link from its alternative names: the one its kernel
// name derives from, else its kernel name.
func rosName(a *netlink.LinkAttrs) string {
	if !derived(a.Name) {
		return a.Name
	}
	for _, alt := range a.AltNames {
		if derivesFrom(alt, a.Name) {
			return alt
		}
	}
	return a.Name
}

// maxMoves bounds the candidates a link's alternative name is checked against: a
// collision moves a name on by one candidate per name that took the earlier ones.
const maxMoves = 16

// derivesFrom reports whether kernel is one of the candidate kernel names of ros.
func derivesFrom(ros, kernel string) bool {
	for i := 0; i < maxMoves; i++ {
		if kernelName(ros, i) == kernel {
			return true
		}
	}
	return false
}

// nameOf is the RouterOS name of a link as this engine shows it: from the map, else from
// its alternative names.
func (e *Engine) nameOf(a *netlink.LinkAttrs) string { return e.names.Of(a) }

// setAltName gives the link l the RouterOS name ros as its alternative name when the
// kernel name differs, so the operator's `ip link show ros` and lookups by it work. A
// kernel without alternative names (before 5.5) gets an error the caller shows; routerd
// itself keeps working from its map.
func (e *Engine) setAltName(l netlink.Link, ros string) error {
	a := l.Attrs()
	if a.Name == ros || !AltNameOK(ros) {
		return nil // the map alone knows a name the kernel refuses
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
// RouterOS name prev, so the old name stops finding it (and a new interface can take
// it: the kernel refuses an alternative name another link has). A name the link no
// longer carries is done; a removal the kernel refuses is the error the caller marks
// the item with, and tries again next pass.
func (e *Engine) dropAltName(l netlink.Link, prev, now string) error {
	if prev == now || !AltNameOK(prev) || (len(prev) <= maxKernelName && kernelSafe(prev)) {
		return nil
	}
	if !slices.Contains(l.Attrs().AltNames, prev) {
		return nil
	}
	if err := e.h.LinkDelAltName(l, prev); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("cannot remove the old alternative name %s of %s: %w", prev, l.Attrs().Name, err)
	}
	return nil
}
