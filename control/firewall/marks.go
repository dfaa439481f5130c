package firewall

import (
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// markProps are the properties naming a packet mark or a connection mark.
var markProps = [...]struct {
	prop string
	conn bool
}{{"new-packet-mark", false}, {"packet-mark", false}, {"new-connection-mark", true}, {"connection-mark", true}}

// Mark kinds: the index of a name's table in Marks.
const (
	packetKind = iota
	connKind
)

// Marks allocates the kernel numbers of packet-mark and connection-mark names for the
// whole box: both families' rules (a connection marked by /ip mangle and matched by
// /ipv6 filter, or a packet-mark a queue classifies) take a name's number from one table.
//
// A new name gets NameMark's hash of it when that number is free, else the next free
// number after it (linear probing, 0 skipped): two names never share a number (issue 15:
// user98 and user1220 both hash to 0xc50b), and a name keeps its number for as long as
// the table has it, whatever names come later. The engine keeps the table in the store's
// meta bucket (marksMeta), so numbers survive restarts (conntrack keeps connection
// marks), and drops at start the names no rule names any more. Names that do not
// collide keep the number the hash gave them before numbers were allocated.
//
// The firewall engine offers its *Marks on the engine host (control/queue matches packet
// marks by number). Safe for concurrent use.
type Marks struct {
	mu    sync.Mutex
	num   [2]map[string]uint32 // by kind: name -> number
	name  [2]map[uint32]string // by kind: number -> name
	dirty bool                 // changed since the last encode
}

// NewMarks returns an empty table.
func NewMarks() *Marks {
	return &Marks{num: [2]map[string]uint32{{}, {}}, name: [2]map[uint32]string{{}, {}}}
}

// Packet returns the number of a packet-mark name (its low PacketMarkBits bits of the
// packet mark; 0 for no-mark), allocating one for a new name.
func (m *Marks) Packet(name string) uint32 { return m.get(packetKind, name) }

// Conn returns the number of a connection-mark name (its low 31 bits of the conntrack
// mark; 0 for no-mark), allocating one for a new name.
func (m *Marks) Conn(name string) uint32 { return m.get(connKind, name) }

func markBits(kind int) uint {
	if kind == connKind {
		return 31
	}
	return PacketMarkBits
}

func (m *Marks) get(kind int, name string) uint32 {
	if name == "" || name == "no-mark" {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.num[kind][name]; ok {
		return v
	}
	bits := markBits(kind)
	space := uint32(1)<<bits - 1 // numbers 1..space
	v := NameMark(name, bits)
	// Terminates unless every number is taken (65535 packet-mark names); then the name
	// shares the hash's number, as before allocation.
	for range space {
		if _, taken := m.name[kind][v]; !taken {
			break
		}
		if v++; v > space {
			v = 1
		}
	}
	m.num[kind][name], m.name[kind][v] = v, name
	m.dirty = true
	return v
}

// connNames maps the allocated connection marks to their names (conntrack's print).
func (m *Marks) connNames() map[uint32]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.name[connKind])
}

// marksMeta is the store's meta key keeping the table: one line per name, "p" (packet
// mark) or "c" (connection mark), the name Go-quoted (a name may hold spaces or
// newlines) and the number, separated by spaces.
const marksMeta = "firewall/marks"

// encode returns the table as marksMeta keeps it (sorted, so an unchanged table encodes
// the same) and whether it changed since the last encode.
func (m *Marks) encode() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for kind, c := range [2]string{"p", "c"} {
		for _, n := range slices.Sorted(maps.Keys(m.num[kind])) {
			b.WriteString(c + " " + strconv.Quote(n) + " " + strconv.FormatUint(uint64(m.num[kind][n]), 10) + "\n")
		}
	}
	dirty := m.dirty
	m.dirty = false
	return b.String(), dirty
}

// load adds the names of an encoded table that keep (nil: all) names, each with its
// number; a line it cannot read, or whose number another name already has, is skipped.
// It reports whether it skipped or left out anything (the table is then saved anew).
func (m *Marks) load(s string, keep func(kind int, name string) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			continue
		}
		i, j := strings.IndexByte(line, ' '), strings.LastIndexByte(line, ' ')
		if i < 0 || j <= i+1 {
			changed = true
			continue
		}
		kind := packetKind
		switch line[:i] {
		case "p":
		case "c":
			kind = connKind
		default:
			changed = true
			continue
		}
		name, qerr := strconv.Unquote(line[i+1 : j])
		v, err := strconv.ParseUint(line[j+1:], 10, 32)
		if qerr != nil || err != nil || v == 0 || v >= 1<<markBits(kind) || name == "no-mark" {
			changed = true
			continue
		}
		if _, taken := m.name[kind][uint32(v)]; taken {
			changed = true
			continue
		}
		if _, had := m.num[kind][name]; had {
			changed = true
			continue
		}
		if keep != nil && !keep(kind, name) {
			changed = true
			continue
		}
		m.num[kind][name], m.name[kind][uint32(v)] = uint32(v), name
	}
	if changed {
		m.dirty = true
	}
	return changed
}

// allocate gives every mark name of rules its number, in a fixed order: the names rules
// set (new-packet-mark=, new-connection-mark=) before the names rules only match, each in
// the rules' order. So on a box whose table is empty (the first start with allocation),
// a name a rule sets keeps the hash's number, the one its connections already carry.
func (m *Marks) allocate(rules []*Rule) {
	for _, setting := range []bool{true, false} {
		for _, r := range rules {
			for _, p := range markProps {
				if strings.HasPrefix(p.prop, "new-") != setting {
					continue
				}
				name := strings.TrimPrefix(r.Props[p.prop], "!")
				if p.conn {
					m.Conn(name)
				} else {
					m.Packet(name)
				}
			}
		}
	}
}

// Marks returns the engine's mark table (offered on the engine host).
func (e *Engine) Marks() *Marks { return e.marks }

// loadMarks reads the table saveMarks kept, at start, before the first pass, leaving out
// the names no configured rule of either family names any more (a name that comes back
// is allocated anew, its old number first if free).
func (e *Engine) loadMarks() {
	named := [2]map[string]bool{{}, {}}
	err := e.ex.Store.View(func(tx *store.Tx) error {
		for _, v6 := range []bool{false, true} {
			for _, t := range menu.FirewallTables {
				items, err := tx.List(rulePath(v6, t))
				if err != nil {
					return err
				}
				for _, it := range items {
					for _, p := range markProps {
						kind := packetKind
						if p.conn {
							kind = connKind
						}
						if n := strings.TrimPrefix(it.Props[p.prop], "!"); n != "" {
							named[kind][n] = true
						}
					}
				}
			}
		}
		e.marks.load(tx.Meta(marksMeta), func(kind int, name string) bool { return named[kind][name] })
		return nil
	})
	if err != nil {
		slog.Warn("firewall: mark numbers not read", "err", err)
	}
}

// saveMarks writes the table into the store's meta bucket when it changed. It runs from
// the list timers, not in the pass: an import holds the store's write transaction in
// its batch.
func (e *Engine) saveMarks() {
	v, changed := e.marks.encode()
	if !changed {
		return
	}
	err := e.ex.Store.Update(func(tx *store.Tx) error { return tx.SetMeta(marksMeta, v) })
	if err != nil {
		e.marks.mu.Lock()
		e.marks.dirty = true // again on the next tick
		e.marks.mu.Unlock()
		slog.Warn("firewall: mark numbers not kept", "err", err)
	}
}
