package control_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/store"
)

func newExecutor(t *testing.T) *control.Executor {
	t.Helper()
	ex := controltest.New(t)
	return ex
}

// exec runs path/cmd with name=value arguments.
func exec(ex *control.Executor, sess *control.Session, path, cmd string, args ...string) (*control.Reply, error) {
	s := &control.Sentence{Path: path, Cmd: cmd}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		s.Args = append(s.Args, control.Arg{Name: k, Value: v})
	}
	return ex.Exec(context.Background(), sess, s)
}

func mustExec(t *testing.T, ex *control.Executor, sess *control.Session, path, cmd string, args ...string) *control.Reply {
	t.Helper()
	rep, err := exec(ex, sess, path, cmd, args...)
	if err != nil {
		t.Fatalf("%s %s %v: %v", path, cmd, args, err)
	}
	return rep
}

func fails(t *testing.T, want string, _ *control.Reply, err error) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func count(t *testing.T, ex *control.Executor, path string) int {
	t.Helper()
	items, err := ex.Items(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

func TestBadInputChangesNothing(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/interface/gre", "add", "name=g1", "remote-address=198.18.0.2")
	rep, err := exec(ex, sess, "/interface/gre", "add", "name=g2", "remote-address=198.18.0.3", "mtu=99999")
	fails(t, "value of mtu out of range (0..65536)", rep, err)
	rep, err = exec(ex, sess, "/interface/gre", "add", "name=g1", "remote-address=198.18.0.3")
	fails(t, "failure: already have such name", rep, err)
	rep, err = exec(ex, sess, "/interface/gre", "add", "name=g3")
	fails(t, "failure: remote-address not specified", rep, err)
	// A set over two items where the second is bad changes neither.
	mustExec(t, ex, sess, "/interface/gre", "add", "name=g4", "remote-address=198.18.0.4")
	rep, err = exec(ex, sess, "/interface/gre", "set", "numbers=g1,g4", "name=same")
	fails(t, "failure: already have such name", rep, err)
	if n := count(t, ex, "/interface/gre"); n != 2 {
		t.Fatalf("%d items after failed commands, want 2", n)
	}
	// /routing table's main is built in (the kernel's table 254): a table may not take
	// its name, by add or by rename.
	rep, err = exec(ex, sess, "/routing/table", "add", "name=main", "fib")
	fails(t, "failure: already have such name", rep, err)
	mustExec(t, ex, sess, "/routing/table", "add", "name=t1", "fib")
	rep, err = exec(ex, sess, "/routing/table", "set", "numbers=t1", "name=main")
	fails(t, "failure: already have such name", rep, err)
	if n := count(t, ex, "/routing/table"); n != 1 {
		t.Fatalf("%d routing tables after failed commands, want 1", n)
	}
	rep = mustExec(t, ex, sess, "/interface/gre", "get", "number=g1", "value-name=name")
	if rep.Ret != "g1" {
		t.Fatalf("g1 renamed by a failed set: %q", rep.Ret)
	}
}

func TestIDsStableAndNotReused(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	a := mustExec(t, ex, sess, "/system/script", "add", "name=a").Ret
	b := mustExec(t, ex, sess, "/system/script", "add", "name=b").Ret
	mustExec(t, ex, sess, "/system/script", "remove", "numbers="+b)
	c := mustExec(t, ex, sess, "/system/script", "add", "name=c").Ret
	if a != "*1" || b != "*2" || c != "*3" {
		t.Fatalf("ids %s %s %s", a, b, c)
	}
	rep, err := exec(ex, sess, "/system/script", "set", "numbers="+b, "source=x")
	fails(t, "no such item", rep, err)
}

func TestReferencesFollowRenameAndBlockRemove(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/ip/ipsec/profile", "add", "name=p1")
	mustExec(t, ex, sess, "/ip/ipsec/peer", "add", "name=peer1", "address=198.18.0.1/32", "profile=p1")
	rep, err := exec(ex, sess, "/ip/ipsec/peer", "add", "name=peer2", "address=198.18.0.2/32", "profile=nosuch")
	fails(t, "input does not match any value of profile", rep, err)
	mustExec(t, ex, sess, "/ip/ipsec/profile", "set", "numbers=p1", "name=p2")
	rep = mustExec(t, ex, sess, "/ip/ipsec/peer", "get", "number=peer1", "value-name=profile")
	if rep.Ret != "p2" {
		t.Fatalf("reference not renamed: %q", rep.Ret)
	}
	_, err = exec(ex, sess, "/ip/ipsec/profile", "remove", "numbers=p2")
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("removing a referenced profile: %v", err)
	}
	_, err = exec(ex, sess, "/ip/ipsec/profile", "remove", "numbers=default")
	if err == nil {
		t.Fatal("removed the built-in default profile")
	}
}

func TestPolicies(t *testing.T) {
	ex := newExecutor(t)
	ro := &control.Session{User: "viewer", Policies: map[string]bool{"read": true}}
	mustExec(t, ex, ro, "/system/identity", "print")
	rep, err := exec(ex, ro, "/system/identity", "set", "name=x")
	fails(t, "not enough permissions (9)", rep, err)
}

func TestSeedIsIdempotent(t *testing.T) {
	ex := newExecutor(t)
	before := count(t, ex, "/ip/service")
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	if after := count(t, ex, "/ip/service"); before != 8 || after != 8 {
		t.Fatalf("services %d then %d, want 8", before, after)
	}
}

func TestBatchRollback(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	if err := ex.BeginBatch(sess); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ex, sess, "/system/script", "add", "name=a")
	if err := ex.RollbackBatch(sess); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ex, "/system/script"); n != 0 {
		t.Fatalf("rolled back batch left %d items", n)
	}
}

func TestWatchSeesCommittedChanges(t *testing.T) {
	ex := newExecutor(t)
	var got []control.Change
	ex.Watch("/interface", func(c control.Change) { got = append(got, c) })
	sess := &control.Session{}
	mustExec(t, ex, sess, "/interface/gre", "add", "name=g1", "remote-address=198.18.0.2")
	_, _ = exec(ex, sess, "/interface/gre", "add", "name=g1", "remote-address=198.18.0.2")
	mustExec(t, ex, sess, "/system/identity", "set", "name=r1")
	if len(got) != 1 || got[0].Op != "add" || got[0].Path != "/interface/gre" {
		t.Fatalf("changes %+v", got)
	}
}

// TestUniqueAmongEnabled: a unique property other than the name conflicts only between
// enabled items, as RouterOS holds them (exports carry a disabled bridge port beside the
// enabled one of the same interface); enabling the duplicate is refused.
func TestUniqueAmongEnabled(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/interface/bridge", "add", "name=br1")
	mustExec(t, ex, sess, "/interface/bridge/port", "add", "bridge=br1", "interface=ether5", "disabled=yes")
	mustExec(t, ex, sess, "/interface/bridge/port", "add", "bridge=br1", "interface=ether5")
	rep, err := exec(ex, sess, "/interface/bridge/port", "add", "bridge=br1", "interface=ether5")
	fails(t, "failure: already have such interface", rep, err)
	rep, err = exec(ex, sess, "/interface/bridge/port", "enable", "numbers=*1")
	fails(t, "failure: already have such interface", rep, err)
	rep, err = exec(ex, sess, "/interface/bridge/port", "set", "numbers=*1", "disabled=no")
	fails(t, "failure: already have such interface", rep, err)
	mustExec(t, ex, sess, "/interface/bridge/port", "set", "numbers=*1", "comment=kept")
	if n := count(t, ex, "/interface/bridge/port"); n != 2 {
		t.Fatalf("%d ports, want 2", n)
	}
}

// TestRenamedDefaultStaysDefault: RouterOS lets the default IPsec profile be renamed; it
// stays the default (flag *), a restart does not seed a second "default" beside it, and
// the export finds it as RouterOS writes it, by default=yes (control/script
// TestRenamedDefaultReimports imports that line on a fresh router).
func TestRenamedDefaultStaysDefault(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/ip/ipsec/profile", "set", "numbers=default", "name=renamed", "dh-group=ecp256")
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ex, "/ip/ipsec/profile"); n != 1 {
		t.Fatalf("%d profiles after Seed, want the renamed default only", n)
	}
	text, err := ex.Export(context.Background(), sess, "/ip/ipsec/profile", control.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "set [ find default=yes ] dh-group=ecp256 name=renamed") {
		t.Fatalf("export:\n%s", text)
	}
}

// TestNumbersWithoutPrint: a session that refers to items by number without printing
// the menu first (a one-shot `routerctl /system script disable 1`) gets the items print
// would have numbered so, counting the rows an engine lists before the stored ones (the
// firewall's dynamic fasttrack rule); QA saw `disable 4` disable print's rule 5. The
// numbering holds for that command only.
func TestNumbersWithoutPrint(t *testing.T) {
	ex := newExecutor(t)
	ex.Provide("/system/script", func(ctx context.Context, s *control.Session) ([]control.Row, error) {
		return []control.Row{{ID: 1 << 40, Props: map[string]string{"name": "dyn"}, Flags: "D", First: true}}, nil
	})
	sess := &control.Session{}
	mustExec(t, ex, sess, "/system/script", "add", "name=a")
	mustExec(t, ex, sess, "/system/script", "add", "name=b")
	mustExec(t, ex, &control.Session{}, "/system/script", "set", "numbers=1", "comment=one")
	items, err := ex.Items("/system/script")
	if err != nil || len(items) != 2 || items[0].Props["comment"] != "one" || items[1].Props["comment"] != "" {
		t.Fatalf("set 1 (print: 0 dyn, 1 a, 2 b) changed %v (%v)", items, err)
	}
	// Twice in one session without print: numbers afresh each time, as before.
	mustExec(t, ex, sess, "/system/script", "remove", "numbers=1")
	mustExec(t, ex, sess, "/system/script", "remove", "numbers=1")
	if n := count(t, ex, "/system/script"); n != 0 {
		t.Fatalf("%d scripts left after two 'remove 1'", n)
	}
}

// TestInterfaceNamesAcrossMenus: interface names are one namespace across the menus of
// /interface (QA: `/interface gre add name=bridge1` was taken, and the LAN bridge
// vanished from /interface); RouterOS refuses with these words.
func TestInterfaceNamesAcrossMenus(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/interface/bridge", "add", "name=bridge1")
	mustExec(t, ex, sess, "/interface/gre", "add", "name=gre1", "remote-address=198.18.0.2")
	rep, err := exec(ex, sess, "/interface/gre", "add", "name=bridge1", "remote-address=198.18.0.3")
	fails(t, "failure: already have interface with such name", rep, err)
	rep, err = exec(ex, sess, "/interface/bridge", "set", "numbers=bridge1", "name=gre1")
	fails(t, "failure: already have interface with such name", rep, err)
	mustExec(t, ex, sess, "/interface/bridge", "set", "numbers=bridge1", "name=bridge1", "comment=unchanged name")
	if n := count(t, ex, "/interface/gre"); n != 1 {
		t.Fatalf("%d gre tunnels, want 1", n)
	}
}

// TestOmittedRefMeansRenamedDefault: with the default profile, proposal and policy group
// renamed (they stay the defaults), an item that leaves profile=, proposal= or group= at
// its default uses the renamed default, added before the rename or after it (QA: a peer
// added without profile= pointed at "default", which no longer existed, and was dead).
func TestOmittedRefMeansRenamedDefault(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	get := func(path, prop string, i int) string {
		t.Helper()
		items, err := ex.Items(path)
		if err != nil || len(items) <= i {
			t.Fatalf("%s: %d items, %v", path, len(items), err)
		}
		return items[i].Props[prop]
	}
	mustExec(t, ex, sess, "/ip/ipsec/peer", "add", "name=before", "address=198.18.200.1/32")
	mustExec(t, ex, sess, "/ip/ipsec/profile", "set", "numbers=default", "name=renamed")
	mustExec(t, ex, sess, "/ip/ipsec/proposal", "set", "numbers=default", "name=prop-renamed")
	mustExec(t, ex, sess, "/ip/ipsec/policy/group", "set", "numbers=default", "name=group-renamed")
	mustExec(t, ex, sess, "/ip/ipsec/peer", "add", "name=after", "address=198.18.200.2/32")
	mustExec(t, ex, sess, "/ip/ipsec/policy", "add", "src-address=198.18.1.0/24", "dst-address=198.18.2.0/24", "peer=after")
	mustExec(t, ex, sess, "/ip/ipsec/policy", "add", "src-address=198.18.3.0/24", "dst-address=198.18.4.0/24", "template=yes")
	for i, want := range []string{"renamed", "renamed"} {
		if got := get("/ip/ipsec/peer", "profile", i); got != want {
			t.Errorf("peer %d: profile=%q, want %q", i, got, want)
		}
	}
	// Policy 0 is the built-in template (group followed by the rename).
	for i := 0; i < 3; i++ {
		if got := get("/ip/ipsec/policy", "proposal", i); got != "prop-renamed" {
			t.Errorf("policy %d: proposal=%q, want prop-renamed", i, got)
		}
	}
	if got := get("/ip/ipsec/policy", "group", 2); got != "group-renamed" {
		t.Errorf("template: group=%q, want group-renamed", got)
	}
	// Unsetting it means the default again, whatever its name.
	mustExec(t, ex, sess, "/ip/ipsec/peer", "unset", "numbers=after", "value-name=profile")
	if got := get("/ip/ipsec/peer", "profile", 1); got != "renamed" {
		t.Errorf("after unset: profile=%q, want renamed", got)
	}
	// An explicit name that does not exist is still refused.
	rep, err := exec(ex, sess, "/ip/ipsec/peer", "add", "name=x", "address=198.18.200.3/32", "profile=default")
	fails(t, "input does not match any value of profile", rep, err)
}

// TestDynamicItemRefused: set, unset, disable and remove over a list that includes a row
// an engine adds (flag D, not stored: a tunnel's ipsec-secret peer) fail with RouterOS's
// words, by *id, print number or name, and, as in RouterOS, the whole command fails: the
// stored items in the list are not changed either (QA: "no such item" for an id that find
// had just returned).
func TestDynamicItemRefused(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	const dynID = 1<<41 | 1
	ex.Provide("/ip/ipsec/peer", func(context.Context, *control.Session) ([]control.Row, error) {
		return []control.Row{{ID: dynID, Flags: "D", Props: map[string]string{"name": "gre1", "address": "198.18.9.2/32"}}}, nil
	})
	mustExec(t, ex, sess, "/ip/ipsec/peer", "add", "name=static1", "address=198.18.9.1/32")
	items, _ := ex.Items("/ip/ipsec/peer")
	static := "*" + strconv.FormatUint(items[0].ID, 16)
	dyn := "*" + strconv.FormatUint(dynID, 16)
	for _, c := range []struct {
		cmd  string
		args []string
		want string
	}{
		{"set", []string{"numbers=" + static + "," + dyn, "comment=x"}, "failure: can not change dynamic item"},
		{"set", []string{"numbers=gre1", "comment=x"}, "failure: can not change dynamic item"},
		{"unset", []string{"numbers=" + dyn, "value-name=comment"}, "failure: can not change dynamic item"},
		{"disable", []string{"numbers=" + static + "," + dyn}, "failure: can not change dynamic item"},
		{"remove", []string{"numbers=" + static + "," + dyn}, "failure: can not remove dynamic item"},
		{"set", []string{"numbers=nosuch", "comment=x"}, "no such item"},
	} {
		rep, err := exec(ex, sess, "/ip/ipsec/peer", c.cmd, c.args...)
		fails(t, c.want, rep, err)
	}
	// By print number: print lists the stored peer, then the dynamic one.
	mustExec(t, ex, sess, "/ip/ipsec/peer", "print")
	rep, err := exec(ex, sess, "/ip/ipsec/peer", "remove", "numbers=0,1")
	fails(t, "failure: can not remove dynamic item", rep, err)
	items, _ = ex.Items("/ip/ipsec/peer")
	if len(items) != 1 || items[0].Props["comment"] != "" || items[0].Props["disabled"] == "yes" {
		t.Fatalf("the stored peer changed: %v", items)
	}
}

// TestBridgePortExternalFDB: RouterOS 6's `export verbose` writes external-fdb= on every
// bridge port; the line loads (stored, no effect here) instead of losing the port (QA).
func TestBridgePortExternalFDB(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	mustExec(t, ex, sess, "/interface/bridge", "add", "name=bridge")
	mustExec(t, ex, sess, "/interface/bridge/port", "add", "bridge=bridge", "external-fdb=auto", "hw=yes", "interface=ether2", "pvid=10")
}

// TestRemovedInterfaceAddresses: the addresses on an interface that is removed point at
// its id (interface=*1), as RouterOS shows and exports them, so that an export of them
// imports again; addresses on other interfaces keep their names.
func TestRemovedInterfaceAddresses(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=brz")
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=keep")
	mustExec(t, ex, admin, "/ip/address", "add", "address=198.18.70.1/24", "interface=brz")
	mustExec(t, ex, admin, "/ip/address", "add", "address=198.18.71.1/24", "interface=keep")
	mustExec(t, ex, admin, "/ipv6/address", "add", "address=2001:db8:7::1/64", "interface=brz")
	rep := mustExec(t, ex, admin, "/interface/bridge", "print")
	id := ""
	for _, r := range rep.Rows {
		if r.Props["name"] == "brz" {
			id = control.FormatID(r.ID)
		}
	}
	mustExec(t, ex, admin, "/interface/bridge", "remove", "numbers=brz")
	var got []string
	for _, path := range []string{"/ip/address", "/ipv6/address"} {
		items, _ := ex.Items(path)
		for _, it := range items {
			got = append(got, it.Props["address"]+" "+it.Props["interface"])
		}
	}
	if want := "198.18.70.1/24 " + id + ",198.18.71.1/24 keep,2001:db8:7::1/64 " + id; strings.Join(got, ",") != want {
		t.Errorf("addresses %v, want %s", got, want)
	}
	out, err := ex.Export(context.Background(), admin, "/ip/address", control.ExportOptions{})
	if err != nil || !strings.Contains(out, "add address=198.18.70.1/24 interface="+id+"\n") {
		t.Errorf("export %v:\n%s", err, out)
	}
}

// TestRemovedInterfaceRules: the firewall rules matching an interface that is removed
// point at its id too, negated ones with their "!" (issue 15: they kept the name, which
// their export wrote and /import refused); rules naming other interfaces keep them.
func TestRemovedInterfaceRules(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=brz")
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=brzz")
	mustExec(t, ex, admin, "/ip/firewall/filter", "add", "chain=forward", "in-interface=brz", "comment=a")
	mustExec(t, ex, admin, "/ip/firewall/nat", "add", "chain=srcnat", "out-interface=!brz", "action=masquerade", "comment=b")
	mustExec(t, ex, admin, "/ipv6/firewall/mangle", "add", "chain=prerouting", "in-interface=brz", "out-interface=brz", "comment=c")
	mustExec(t, ex, admin, "/ip/firewall/raw", "add", "chain=prerouting", "in-interface=brzz", "comment=d")
	id := ""
	for _, r := range mustExec(t, ex, admin, "/interface/bridge", "print").Rows {
		if r.Props["name"] == "brz" {
			id = control.FormatID(r.ID)
		}
	}
	mustExec(t, ex, admin, "/interface/bridge", "remove", "numbers=brz")
	var got []string
	for _, path := range []string{"/ip/firewall/filter", "/ip/firewall/nat", "/ipv6/firewall/mangle", "/ip/firewall/raw"} {
		items, _ := ex.Items(path)
		for _, it := range items {
			got = append(got, it.Props["comment"]+" "+it.Props["in-interface"]+" "+it.Props["out-interface"])
		}
	}
	if want := "a " + id + " ,b  !" + id + ",c " + id + " " + id + ",d brzz "; strings.Join(got, ",") != want {
		t.Errorf("rules %q, want %q", strings.Join(got, ","), want)
	}
}

// TestRemovedBridgePortRules: in-bridge-port and out-bridge-port are pointed at a
// removed interface's id as in-interface is (issue 15: they kept the name).
func TestRemovedBridgePortRules(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/vlan", "add", "name=vp", "vlan-id=7", "interface=ether1")
	mustExec(t, ex, admin, "/ip/firewall/filter", "add", "chain=forward", "in-bridge-port=vp", "out-bridge-port=!vp", "comment=a")
	var id string
	for _, r := range mustExec(t, ex, admin, "/interface/vlan", "print").Rows {
		id = control.FormatID(r.ID)
	}
	mustExec(t, ex, admin, "/interface/vlan", "remove", "numbers=vp")
	items, _ := ex.Items("/ip/firewall/filter")
	if got, want := items[0].Props["in-bridge-port"]+" "+items[0].Props["out-bridge-port"], id+" !"+id; got != want {
		t.Errorf("after the remove: %q, want %q", got, want)
	}
}

// TestExportHeaderLocalTime: the export's header is in the router's time, /system
// clock's zone, as RouterOS writes it (QA: it was UTC after time-zone-name was set).
func TestExportHeaderLocalTime(t *testing.T) {
	ex := newExecutor(t)
	ex.Now = func() time.Time { return time.Date(2026, 12, 3, 6, 6, 54, 0, time.UTC) }
	sess := &control.Session{}
	mustExec(t, ex, sess, "/system/clock", "set", "time-zone-name=Africa/Johannesburg")
	text, err := ex.Export(context.Background(), sess, "", control.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "# 2026-12-03 08:06:54 by routerd ") {
		t.Errorf("header %q", strings.SplitN(text, "\n", 2)[0])
	}
}

// TestMigratedLineInBatch: in a batch (an import), a line whose RouterOS 6 migration
// writes first and then fails leaves nothing of its own, even when the batch's flush
// timer comes due in the middle of it; the lines before and after it are kept, with
// their history entries, and the refused line has none.
func TestMigratedLineInBatch(t *testing.T) {
	ex := newExecutor(t)
	ex.Migrate("/interface/gre", func(ctx context.Context, x *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
		name, _ := s.Get("name")
		if s.Cmd != "add" || !strings.HasPrefix(name, "two-") || strings.HasSuffix(name, "-side") {
			return nil, nil, nil
		}
		side := &control.Sentence{Path: s.Path, Cmd: "add", Args: []control.Arg{{Name: "name", Value: name + "-side"}, {Name: "remote-address", Value: "198.18.0.9"}}}
		if _, err := x.Exec(ctx, sess, side); err != nil {
			return nil, nil, err
		}
		// Long enough for the batch's timer to come due between the side write and
		// the line's own.
		time.Sleep(3 * control.FlushAfter)
		main := *s
		if strings.HasSuffix(name, "-bad") {
			main.Args = append(slicesClone(s.Args), control.Arg{Name: "mtu", Value: "99999"})
		}
		return &main, nil, nil
	})
	sess := &control.Session{User: "admin"}
	history := func() int {
		return len(mustExec(t, ex, &control.Session{User: "admin"}, "/system/history", "print").Rows)
	}
	hist := history()
	if err := ex.BeginBatch(sess); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ex, sess, "/interface/gre", "add", "name=g0", "remote-address=198.18.0.2")
	mustExec(t, ex, sess, "/interface/gre", "add", "name=two-ok", "remote-address=198.18.0.3")
	if _, err := exec(ex, sess, "/interface/gre", "add", "name=two-bad", "remote-address=198.18.0.4"); err == nil {
		t.Error("mtu=99999 accepted")
	}
	mustExec(t, ex, sess, "/interface/gre", "add", "name=g3", "remote-address=198.18.0.5")
	if err := ex.EndBatch(sess); err != nil {
		t.Fatal(err)
	}
	items, err := ex.Items("/interface/gre")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Props["name"])
	}
	if got := strings.Join(names, ","); got != "g0,two-ok-side,two-ok,g3" {
		t.Errorf("gre interfaces %s, want g0,two-ok-side,two-ok,g3", got)
	}
	if h := history(); h != hist+4 {
		t.Errorf("history %d -> %d entries, want 4 more", hist, h)
	}
}

func slicesClone(a []control.Arg) []control.Arg { return append([]control.Arg(nil), a...) }

// TestUniqueKey: an address list's list and address together name one entry (RouterOS:
// "failure: already have such entry"), disabled entries included, for add and for a set
// that gives an entry another's pair; remove frees the pair; IPv4 and IPv6 lists are
// apart. Concurrent adds of one entry leave exactly one: the check is in the command's
// own transaction, not a read before it.
func TestUniqueKey(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	const l4, l6 = "/ip/firewall/address-list", "/ipv6/firewall/address-list"
	mustExec(t, ex, sess, l4, "add", "list=a", "address=198.18.0.1")
	mustExec(t, ex, sess, l4, "add", "list=a", "address=198.18.0.2", "disabled=yes")
	mustExec(t, ex, sess, l4, "add", "list=b", "address=198.18.0.1")
	mustExec(t, ex, sess, l6, "add", "list=a", "address=2001:db8::1")
	mustExec(t, ex, sess, l4, "add", "list=a")
	for _, args := range [][]string{
		{"list=a", "address=198.18.0.1"},
		{"list=a", "address=198.18.0.1/32", "timeout=1h"}, // the same host, written as a prefix
		{"list=a", "address=198.18.0.2"},                  // the disabled one counts
		{"list=a"},                                        // an entry that only makes the list
	} {
		rep, err := exec(ex, sess, l4, "add", args...)
		fails(t, "failure: already have such entry", rep, err)
	}
	rep, err := exec(ex, sess, l6, "add", "list=a", "address=2001:db8::1")
	fails(t, "failure: already have such entry", rep, err)
	items, _ := ex.Items(l4)
	id := func(l, a string) string {
		for _, it := range items {
			if it.Props["list"] == l && it.Props["address"] == a {
				return control.FormatID(it.ID)
			}
		}
		t.Fatalf("no entry %s %s", l, a)
		return ""
	}
	b1 := id("b", "198.18.0.1")
	rep, err = exec(ex, sess, l4, "set", "numbers="+b1, "list=a")
	fails(t, "failure: already have such entry", rep, err)
	rep, err = exec(ex, sess, l4, "set", "numbers="+id("a", "198.18.0.1"), "address=198.18.0.2")
	fails(t, "failure: already have such entry", rep, err)
	// Its own pair again, or other properties, are no change of key.
	mustExec(t, ex, sess, l4, "set", "numbers="+b1, "list=b", "address=198.18.0.1", "comment=x")
	mustExec(t, ex, sess, l4, "set", "numbers="+b1, "comment=y")
	if n := count(t, ex, l4); n != 4 {
		t.Fatalf("%d entries after refused commands, want 4", n)
	}
	// Remove frees the pair; a set moves it.
	mustExec(t, ex, sess, l4, "remove", "numbers="+id("a", "198.18.0.1"))
	mustExec(t, ex, sess, l4, "set", "numbers="+b1, "list=a")
	mustExec(t, ex, sess, l4, "add", "list=b", "address=198.18.0.1")
	rep, err = exec(ex, sess, l4, "add", "list=a", "address=198.18.0.1")
	fails(t, "failure: already have such entry", rep, err)

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = exec(ex, &control.Session{}, l4, "add", "list=race", "address=198.18.0.7")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if err.Error() != "failure: already have such entry" {
			t.Errorf("concurrent add: %v", err)
		}
	}
	items, _ = ex.Items(l4)
	n := 0
	for _, it := range items {
		if it.Props["list"] == "race" {
			n++
		}
	}
	if ok != 1 || n != 1 {
		t.Fatalf("concurrent adds of one entry: %d succeeded, %d stored, want 1 and 1", ok, n)
	}
}

// TestPrintCountOnly: print count-only of a List menu counts the stored items and the
// engine's own rows without building a row (an address list of 100,000 entries printed
// one number after 27-35 s, issue 15): the engine's per-row properties (RowProps) are
// not asked for. With a where the rows are built and filtered as before, and a full print shows the engine's per-row properties.
func TestPrintCountOnly(t *testing.T) {
	ex := newExecutor(t)
	sess := &control.Session{}
	const path = "/ip/firewall/address-list"
	ex.Provide(path, func(context.Context, *control.Session) ([]control.Row, error) {
		return []control.Row{{ID: 1<<41 | 1, Flags: "D", Props: map[string]string{"list": "dyn", "address": "198.18.9.9"}}}, nil
	})
	calls := 0
	ex.ProvideRowProps(path, func(id uint64, props map[string]string) {
		calls++
		props["creation-time"] = "2026-12-03 00:00:0" + strconv.FormatUint(id%10, 10)
	})
	for i := 1; i <= 5; i++ {
		mustExec(t, ex, sess, path, "add", "list=bl", "address=198.18.0."+strconv.Itoa(i))
	}
	mustExec(t, ex, sess, path, "add", "list=other", "address=198.18.1.1")
	if n := mustExec(t, ex, sess, path, "print", "count-only").Ret; n != "7" || calls != 0 {
		t.Fatalf("count-only: %s (want 7: 6 stored, 1 dynamic), %d rows built (want 0)", n, calls)
	}
	s := &control.Sentence{Path: path, Cmd: "print", Args: []control.Arg{{Name: "count-only"}},
		Filter: func(r *control.Row) (bool, error) { return r.Props["list"] == "other", nil }}
	if rep, err := ex.Exec(context.Background(), sess, s); err != nil || rep.Ret != "1" {
		t.Errorf("count-only where list=other: %v %v, want 1", rep, err)
	}
	calls = 0
	rep := mustExec(t, ex, sess, path, "print")
	if len(rep.Rows) != 7 || calls != 6 {
		t.Fatalf("print: %d rows, %d with the engine's properties; want 7 and 6", len(rep.Rows), calls)
	}
	for _, r := range rep.Rows {
		if r.Flags == "" && !strings.HasPrefix(r.Props["creation-time"], "2026-12-03") {
			t.Errorf("row %v without the engine's creation-time", r.Props)
		}
	}
}

// TestRenamedInterfaceRefs: renaming a bridge (any interface of a menu under /interface)
// renames it in the properties that name interfaces, as RouterOS (which refers by id)
// shows them: the address on it, its list membership and the firewall rules matching
// it, negated ones too (QA: they kept the old name, so the address went invalid, the
// rules matched nothing and their export no longer imported); other interfaces' are
// untouched.
func TestRenamedInterfaceRefs(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=brA")
	mustExec(t, ex, admin, "/interface/bridge", "add", "name=brA2")
	mustExec(t, ex, admin, "/interface/list", "add", "name=LANX")
	mustExec(t, ex, admin, "/interface/list/member", "add", "list=LANX", "interface=brA")
	mustExec(t, ex, admin, "/ip/address", "add", "address=198.18.72.1/24", "interface=brA")
	mustExec(t, ex, admin, "/ip/address", "add", "address=198.18.73.1/24", "interface=brA2")
	mustExec(t, ex, admin, "/ip/firewall/filter", "add", "chain=forward", "in-interface=brA", "out-interface=!brA", "comment=a")
	mustExec(t, ex, admin, "/ipv6/firewall/filter", "add", "chain=forward", "in-interface=brA2", "comment=b")
	mustExec(t, ex, admin, "/interface/bridge", "set", "numbers=brA", "name=brB")
	var got []string
	for _, path := range []string{"/interface/list/member", "/ip/address", "/ip/firewall/filter", "/ipv6/firewall/filter"} {
		items, _ := ex.Items(path)
		for _, it := range items {
			got = append(got, it.Props["interface"]+it.Props["in-interface"]+" "+it.Props["out-interface"])
		}
	}
	if want := "brB ,brB ,brA2 ,brB !brB,brA2 "; strings.Join(got, ",") != want {
		t.Errorf("references %q, want %q", strings.Join(got, ","), want)
	}
}

// TestInterfaceListRefs: the firewall rules matching an interface list follow its
// rename and, when it is removed, point at its id (QA: a removed list's rule matched
// nothing, valid and silent, and its export was refused at import).
func TestInterfaceListRefs(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/list", "add", "name=TMPL")
	mustExec(t, ex, admin, "/interface/list", "add", "name=KEEP")
	mustExec(t, ex, admin, "/ip/firewall/filter", "add", "chain=forward", "in-interface-list=TMPL", "out-interface-list=!TMPL", "comment=a")
	mustExec(t, ex, admin, "/ipv6/firewall/raw", "add", "chain=prerouting", "in-interface-list=KEEP", "comment=b")
	mustExec(t, ex, admin, "/interface/list", "set", "numbers=TMPL", "name=TMP2")
	rules := func() string {
		var got []string
		for _, path := range []string{"/ip/firewall/filter", "/ipv6/firewall/raw"} {
			items, _ := ex.Items(path)
			for _, it := range items {
				got = append(got, it.Props["in-interface-list"]+" "+it.Props["out-interface-list"])
			}
		}
		return strings.Join(got, ",")
	}
	if got := rules(); got != "TMP2 !TMP2,KEEP " {
		t.Errorf("after the rename: %q", got)
	}
	id := ""
	for _, r := range mustExec(t, ex, admin, "/interface/list", "print").Rows {
		if r.Props["name"] == "TMP2" {
			id = control.FormatID(r.ID)
		}
	}
	mustExec(t, ex, admin, "/interface/list", "remove", "numbers=TMP2")
	if got, want := rules(), id+" !"+id+",KEEP "; got != want {
		t.Errorf("after the remove: %q, want %q", got, want)
	}
}

// TestBridgePortListRefs: in-bridge-port-list and out-bridge-port-list follow a list's
// rename and are pointed at its id when it is removed, as the interface lists are
// (issue 15: they kept the name, the rule went invalid "list has no interfaces", and
// the export naming the gone list was refused at import).
func TestBridgePortListRefs(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/list", "add", "name=PORTS")
	mustExec(t, ex, admin, "/ip/firewall/filter", "add", "chain=forward", "in-bridge-port-list=PORTS", "out-bridge-port-list=!PORTS")
	rules := func() string {
		items, _ := ex.Items("/ip/firewall/filter")
		return items[0].Props["in-bridge-port-list"] + " " + items[0].Props["out-bridge-port-list"]
	}
	mustExec(t, ex, admin, "/interface/list", "set", "numbers=PORTS", "name=P2")
	if got := rules(); got != "P2 !P2" {
		t.Errorf("after the rename: %q", got)
	}
	var id string
	for _, r := range mustExec(t, ex, admin, "/interface/list", "print").Rows {
		if r.Props["name"] == "P2" {
			id = control.FormatID(r.ID)
		}
	}
	mustExec(t, ex, admin, "/interface/list", "remove", "numbers=P2")
	if got, want := rules(), id+" !"+id; got != want {
		t.Errorf("after the remove: %q, want %q", got, want)
	}
}

// TestGoneListRefsAtStart: a rule stored before removing a list pointed its rules at
// the list's id (2a27030) still names the list that is gone; the start (Seed) points it
// at an id reserved in the list menu, negated too, one id per gone name, so the rule is
// invalid "interface list *N not present" and its export imports. Rules naming a list
// that exists, or an id already, are left alone; a list added later gets another id.
func TestGoneListRefsAtStart(t *testing.T) {
	ex := newExecutor(t)
	admin := &control.Session{User: "admin"}
	mustExec(t, ex, admin, "/interface/list", "add", "name=KEEP")
	err := ex.Store.Update(func(tx *store.Tx) error { // as a store of before 2a27030 has them
		for i, p := range []map[string]string{
			{"chain": "forward", "action": "accept", "in-interface-list": "OLD", "out-interface-list": "!OLD"},
			{"chain": "forward", "action": "accept", "in-interface-list": "KEEP", "out-interface-list": "!OLD2"},
			{"chain": "forward", "action": "accept", "in-interface-list": "*7F"},
		} {
			if err := tx.Put("/ip/firewall/filter", store.Item{ID: uint64(100 + i), Props: p}, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	items, _ := ex.Items("/ip/firewall/filter")
	var got []string
	for _, it := range items {
		got = append(got, it.Props["in-interface-list"]+" "+it.Props["out-interface-list"])
	}
	if len(got) != 3 {
		t.Fatalf("rules %q", got)
	}
	old, _, _ := strings.Cut(got[0], " ")
	oldID, ok := control.ParseID(old)
	if !ok || got[0] != old+" !"+old || !strings.HasPrefix(got[1], "KEEP !*") || strings.HasSuffix(got[1], old) || got[2] != "*7F " {
		t.Fatalf("after the start: %q", got)
	}
	lists := mustExec(t, ex, admin, "/interface/list", "print").Rows
	for _, r := range lists {
		if r.ID == oldID {
			t.Fatalf("the id %s given to the gone list is a list's: %v", old, r.Props)
		}
	}
	mustExec(t, ex, admin, "/interface/list", "add", "name=NEW")
	for _, r := range mustExec(t, ex, admin, "/interface/list", "print").Rows {
		if r.Props["name"] == "NEW" && r.ID <= oldID {
			t.Fatalf("a new list got id %s, not above the reserved %s", control.FormatID(r.ID), old)
		}
	}
	// A second start changes nothing.
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	items, _ = ex.Items("/ip/firewall/filter")
	if v := items[0].Props["in-interface-list"]; v != old {
		t.Fatalf("the second start: %q, want %q", v, old)
	}
}
