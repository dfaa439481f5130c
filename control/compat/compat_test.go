package compat_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/compat"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
)

func exec(t *testing.T, ex *control.Executor, path, cmd string, args ...string) (*control.Reply, error) {
	t.Helper()
	s := &control.Sentence{Path: path, Cmd: cmd}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		s.Args = append(s.Args, control.Arg{Name: k, Value: v})
	}
	// The RouterOS 6 lines of these tests are an imported v6 export's.
	return ex.Exec(context.Background(), &control.Session{User: "admin", ShowSensitive: true, V6: true}, s)
}

func get(t *testing.T, ex *control.Executor, path, name, prop string) string {
	t.Helper()
	items, err := ex.Items(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Props["name"] == name || name == "" {
			return it.Props[prop]
		}
	}
	t.Fatalf("%s: no item %q", path, name)
	return ""
}

// TestV6Peer: a RouterOS 6.42 peer line becomes a v7 peer, profile and identity.
func TestV6Peer(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	if _, err := exec(t, ex, "/ip/ipsec/peer", "add", "address=198.18.6.1/32", "secret=s3cret",
		"enc-algorithm=aes-256,aes-128", "hash-algorithm=sha256", "dh-group=modp2048", "lifetime=8h",
		"exchange-mode=main-l2tp", "generate-policy=port-override", "xauth-login=u1", "xauth-password=p1",
		"auth-method=pre-shared-key-xauth"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/ip/ipsec/peer", "peer1", "exchange-mode"); got != "main" {
		t.Errorf("exchange-mode = %q", got)
	}
	if got := get(t, ex, "/ip/ipsec/peer", "peer1", "profile"); got != "profile-peer1" {
		t.Errorf("profile = %q", got)
	}
	for k, want := range map[string]string{"enc-algorithm": "aes-256,aes-128", "hash-algorithm": "sha256",
		"dh-group": "modp2048", "lifetime": "8h"} {
		if got := get(t, ex, "/ip/ipsec/profile", "profile-peer1", k); got != want {
			t.Errorf("profile %s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"peer": "peer1", "secret": "s3cret", "generate-policy": "port-override",
		"username": "u1", "password": "p1", "auth-method": "pre-shared-key-xauth"} {
		if got := get(t, ex, "/ip/ipsec/identity", "", k); got != want {
			t.Errorf("identity %s = %q, want %q", k, got, want)
		}
	}
	// v6 policy naming its peer by SA address.
	if _, err := exec(t, ex, "/ip/ipsec/policy", "add", "src-address=198.18.1.0/24", "dst-address=198.18.20.0/24",
		"sa-src-address=198.18.5.1", "sa-dst-address=198.18.6.1", "tunnel=yes"); err != nil {
		t.Fatal(err)
	}
	items, _ := ex.Items("/ip/ipsec/policy")
	found := false
	for _, it := range items {
		if it.Props["dst-address"] == "198.18.20.0/24" {
			found = it.Props["peer"] == "peer1" && it.Props["sa-dst-address"] == ""
		}
	}
	if !found {
		t.Errorf("policy did not get peer=peer1: %v", items)
	}
	// Its sa-src-address became the peer's local-address (the peer had none) ...
	if got := get(t, ex, "/ip/ipsec/peer", "peer1", "local-address"); got != "198.18.5.1" {
		t.Errorf("peer local-address = %q, want the policy's sa-src-address 198.18.5.1", got)
	}
	// ... and a second policy with another source leaves it as it is.
	if _, err := exec(t, ex, "/ip/ipsec/policy", "add", "src-address=198.18.2.0/24", "dst-address=198.18.22.0/24",
		"sa-src-address=198.18.5.9", "sa-dst-address=198.18.6.1", "tunnel=yes"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/ip/ipsec/peer", "peer1", "local-address"); got != "198.18.5.1" {
		t.Errorf("peer local-address changed to %q", got)
	}
	if _, err := exec(t, ex, "/ip/ipsec/policy", "add", "dst-address=198.18.21.0/24", "sa-dst-address=198.18.66.1"); err == nil {
		t.Error("sa-dst-address of no peer accepted")
	}
	// A peer property on set is refused, not silently dropped.
	if _, err := exec(t, ex, "/ip/ipsec/peer", "set", "numbers=peer1", "secret=x"); err == nil {
		t.Error("v6 secret= on set accepted")
	}
}

func TestV6Route(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	if _, err := exec(t, ex, "/ip/route", "add", "dst-address=198.18.99.0/24", "type=blackhole"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/ip/route", "", "blackhole"); got != "yes" {
		t.Errorf("blackhole = %q", got)
	}
	if _, err := exec(t, ex, "/ip/route", "add", "dst-address=0.0.0.0/0", "gateway=198.18.0.1", "routing-mark=isp2"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/routing/table", "isp2", "fib"); got != "yes" {
		t.Errorf("routing table isp2 fib = %q", got)
	}
	if _, err := exec(t, ex, "/ip/route", "add", "dst-address=198.18.98.0/24", "type=prohibit"); err == nil {
		t.Error("type=prohibit accepted")
	}
	// Without the migration the v6 property is refused, never stored.
	st, err := store.Open(filepath.Join(t.TempDir(), "routerd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw := control.New(menu.Default(), st)
	if _, err := exec(t, raw, "/ip/route", "add", "dst-address=198.18.99.0/24", "routing-mark=x", "gateway=198.18.0.1"); err == nil ||
		!strings.Contains(err.Error(), "RouterOS 6 property") {
		t.Errorf("err = %v", err)
	}
}

// TestV6PeerAllOrNothing: a v6 peer line whose identity or profile part is refused
// leaves no peer, profile or identity behind; rsa-signature is digital-signature.
func TestV6PeerAllOrNothing(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	count := func(path string) int {
		items, err := ex.Items(path)
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	history := func() int {
		rep, err := exec(t, ex, "/system/history", "print")
		if err != nil {
			t.Fatal(err)
		}
		return len(rep.Rows)
	}
	peers, profs, ids := count("/ip/ipsec/peer"), count("/ip/ipsec/profile"), count("/ip/ipsec/identity")
	hist := history()
	for _, bad := range [][]string{
		{"address=198.18.50.3/32", "auth-method=bogus", "dh-group=modp2048"},
		{"address=198.18.50.4/32", "secret=x", "dh-group=bogus"},
	} {
		if _, err := exec(t, ex, "/ip/ipsec/peer", "add", bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
		if p, f, i := count("/ip/ipsec/peer"), count("/ip/ipsec/profile"), count("/ip/ipsec/identity"); p != peers || f != profs || i != ids {
			t.Errorf("%v refused but left peers %d->%d profiles %d->%d identities %d->%d", bad, peers, p, profs, f, ids, i)
		}
		if h := history(); h != hist {
			t.Errorf("%v refused but /system history has %d entries, had %d", bad, h, hist)
		}
	}
	if _, err := exec(t, ex, "/ip/ipsec/peer", "add", "address=198.18.50.3/32", "auth-method=rsa-signature", "certificate=none"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/ip/ipsec/identity", "", "auth-method"); got != "digital-signature" {
		t.Errorf("identity auth-method = %q, want digital-signature", got)
	}
}

// TestV6PeerRSAKey: a RouterOS 6 peer (before 6.43) with auth-method=rsa-key names its
// keys on the peer; as the upgrade does, they go to the peer's identity with the method.
func TestV6PeerRSAKey(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	for _, k := range []string{"name=mine", "name=theirs"} {
		if _, err := exec(t, ex, "/ip/ipsec/key", "add", k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := exec(t, ex, "/ip/ipsec/peer", "add", "address=198.18.50.5/32", "auth-method=rsa-key", "key=mine", "remote-key=theirs"); err != nil {
		t.Fatal(err)
	}
	ids, _ := ex.Items("/ip/ipsec/identity")
	if len(ids) != 1 || ids[0].Props["auth-method"] != "rsa-key" || ids[0].Props["key"] != "mine" || ids[0].Props["remote-key"] != "theirs" {
		t.Errorf("identities %v", ids)
	}
	if _, err := exec(t, ex, "/ip/ipsec/peer", "add", "address=198.18.50.6/32", "auth-method=rsa-key", "key=nosuch"); err == nil {
		t.Error("a key that is not in /ip ipsec key accepted")
	}
}

// TestV6RouteRule: RouterOS 6's /ip route rule add becomes a /routing rule with the same
// properties, and the tables its routing-mark and table name are made (fib) first.
func TestV6RouteRule(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	if _, err := exec(t, ex, menu.V6RouteRulePath, "add", "src-address=198.18.10.0/24", "action=lookup-only-in-table",
		"table=isp2", "comment=v6"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec(t, ex, menu.V6RouteRulePath, "add", "routing-mark=to-isp1", "action=lookup", "table=isp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec(t, ex, menu.V6RouteRulePath, "add", "dst-address=198.19.0.0/16", "action=unreachable", "interface=ether2"); err != nil {
		t.Fatal(err)
	}
	rules, _ := ex.Items(menu.RoutingRulePath)
	if len(rules) != 3 {
		t.Fatalf("%d /routing rule items, want 3", len(rules))
	}
	for i, want := range []map[string]string{
		{"src-address": "198.18.10.0/24", "action": "lookup-only-in-table", "table": "isp2", "comment": "v6"},
		{"routing-mark": "to-isp1", "action": "lookup", "table": "isp1"},
		{"dst-address": "198.19.0.0/16", "action": "unreachable", "interface": "ether2"},
	} {
		for k, v := range want {
			if got := rules[i].Props[k]; got != v {
				t.Errorf("rule %d %s = %q, want %q", i, k, got, v)
			}
		}
	}
	for _, tb := range []string{"isp1", "isp2", "to-isp1"} {
		if got := get(t, ex, "/routing/table", tb, "fib"); got != "yes" {
			t.Errorf("table %s fib = %q", tb, got)
		}
	}
	if items, _ := ex.Items(menu.V6RouteRulePath); len(items) != 0 {
		t.Errorf("the v6 menu holds %d items", len(items))
	}
	if _, err := exec(t, ex, menu.V6RouteRulePath, "set", "numbers=0", "table=main"); err == nil {
		t.Error("set in the v6 menu accepted")
	}
}

// TestV6MangleRoutingMark: a v6 mangle rule marking routing for a table no route has
// made yet is accepted, and the table made as the upgrade does; an existing one is kept.
// The properties are v7's too: a line not known to be v6's is refused as RouterOS 7
// refuses it, and makes no table.
func TestV6MangleRoutingMark(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	v7 := &control.Session{User: "admin"}
	if _, err := ex.Exec(context.Background(), v7, &control.Sentence{Path: menu.ManglePath, Cmd: "add", Args: []control.Arg{
		{Name: "chain", Value: "prerouting"}, {Name: "action", Value: "mark-routing"}, {Name: "new-routing-mark", Value: "typo"}}}); err == nil {
		t.Error("v7: a mark of a table that does not exist accepted")
	}
	if tables, _ := ex.Items("/routing/table"); len(tables) != 0 {
		t.Errorf("v7 input made tables: %v", tables)
	}
	if _, err := exec(t, ex, menu.ManglePath, "add", "chain=prerouting", "src-address=198.18.10.0/24",
		"action=mark-routing", "new-routing-mark=to-isp2", "passthrough=no"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/routing/table", "to-isp2", "fib"); got != "yes" {
		t.Errorf("table to-isp2 fib = %q", got)
	}
	if _, err := exec(t, ex, menu.ManglePath, "add", "chain=prerouting", "action=mark-routing",
		"new-routing-mark=to-isp2", "routing-mark=!other"); err != nil {
		t.Fatal(err)
	}
	tables, _ := ex.Items("/routing/table")
	if len(tables) != 2 {
		t.Errorf("%d tables, want to-isp2 and other", len(tables))
	}
	// v6 routes then name the table with routing-mark= as before.
	if _, err := exec(t, ex, "/ip/route", "add", "gateway=198.18.2.1", "routing-mark=to-isp2"); err != nil {
		t.Fatal(err)
	}
}

// TestV6MasterPortAddress: an address RouterOS 6 put on a master port goes on the
// bridge the upgrade made of it (test/netlink TestImportV6Mappings makes the bridge
// from master-port= on real ports); a port of another bridge keeps its own.
func TestV6MasterPortAddress(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	ports := map[string]bool{"ether2": true, "ether3": true}
	ex.ProvideNames("/interface", func(n string) bool { return ports[n] })
	for _, c := range [][]string{
		{menu.BridgePath, "name=bridge1", "comment=created from master port", "protocol-mode=none"},
		{menu.BridgePath, "name=lan"},
		{menu.BridgePortPath, "bridge=bridge1", "interface=ether2"},
		{menu.BridgePortPath, "bridge=lan", "interface=ether3"},
		{menu.Address4Path, "address=198.18.88.1/24", "interface=ether2"},
		{menu.Address4Path, "address=198.18.89.1/24", "interface=ether3"},
	} {
		if _, err := exec(t, ex, c[0], "add", c[1:]...); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	addrs, _ := ex.Items(menu.Address4Path)
	var got []string
	for _, a := range addrs {
		got = append(got, a.Props["address"]+" "+a.Props["interface"])
	}
	if strings.Join(got, ",") != "198.18.88.1/24 bridge1,198.18.89.1/24 ether3" {
		t.Errorf("addresses %v", got)
	}
}

// TestV6GatewayList: a RouterOS 6 route with a gateway list becomes a route per gateway
// with the same distance (equal-cost paths), as the upgrade does.
func TestV6GatewayList(t *testing.T) {
	ex := controltest.New(t)
	compat.Register(ex)
	if _, err := exec(t, ex, "/ip/route", "add", "distance=1", "dst-address=198.18.50.0/24",
		"gateway=198.18.1.1,198.18.2.1", "comment=ecmp"); err != nil {
		t.Fatal(err)
	}
	items, _ := ex.Items("/ip/route")
	var got []string
	for _, it := range items {
		got = append(got, it.Props["dst-address"]+" "+it.Props["gateway"]+" "+it.Props["distance"]+" "+it.Props["comment"])
	}
	if strings.Join(got, ",") != "198.18.50.0/24 198.18.1.1 1 ecmp,198.18.50.0/24 198.18.2.1 1 ecmp" {
		t.Errorf("routes %v", got)
	}
}

// captureLog sends the default logger's lines to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

// TestV6Email: RouterOS 6's /tool e-mail address= and start-tls= load as v7's server= and
// tls=, a log line each; neither v6 name is stored.
func TestV6Email(t *testing.T) {
	for _, c := range []struct{ startTLS, tls string }{{"yes", "starttls"}, {"tls-only", "yes"}, {"no", "no"}} {
		ex := controltest.New(t)
		log := captureLog(t)
		if _, err := exec(t, ex, "/tool/e-mail", "set", "address=198.18.5.25", "from=<gw@example.net>",
			"port=587", "start-tls="+c.startTLS, "user=gw"); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"server": "198.18.5.25", "tls": c.tls, "port": "587",
			"from": "<gw@example.net>", "address": "", "start-tls": ""} {
			if got := get(t, ex, "/tool/e-mail", "", k); got != want {
				t.Errorf("start-tls=%s: %s = %q, want %q", c.startTLS, k, got, want)
			}
		}
		for _, want := range []string{`menu="tool e-mail" property=address to=server`,
			`property="start-tls=` + c.startTLS + `" to="tls=` + c.tls + `"`} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
	}
	ex := controltest.New(t)
	if _, err := exec(t, ex, "/tool/e-mail", "set", "start-tls=maybe"); err == nil {
		t.Error("start-tls=maybe accepted")
	}
	// A v7 line is not touched.
	if _, err := exec(t, ex, "/tool/e-mail", "set", "server=198.18.5.26", "tls=yes"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ex, "/tool/e-mail", "", "tls"); got != "yes" {
		t.Errorf("tls = %q", got)
	}
}

// TestV6ScriptPolicy: RouterOS 6 scripts and scheduler items listed login policies
// (winbox, api ...) that v7's scripts do not have; they are dropped as the upgrade drops
// them, a log line each, and the rest is kept.
func TestV6ScriptPolicy(t *testing.T) {
	ex := controltest.New(t)
	log := captureLog(t)
	for _, path := range []string{menu.ScriptPath, menu.SchedulerPath} {
		if _, err := exec(t, ex, path, "add", "name=v6", "owner=admin",
			"policy=ftp,reboot,read,write,policy,test,winbox,password,sniff,sensitive,api"); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := get(t, ex, path, "v6", "policy"); got != "ftp,reboot,read,write,policy,test,password,sniff,sensitive" {
			t.Errorf("%s policy = %q", path, got)
		}
		// A v7 line is left alone, and a bad word is still refused.
		if _, err := exec(t, ex, path, "add", "name=v7", "policy=read,write"); err != nil {
			t.Fatal(err)
		}
		if _, err := exec(t, ex, path, "add", "name=bad", "policy=read,bogus"); err == nil {
			t.Errorf("%s: policy=read,bogus accepted", path)
		}
	}
	for _, want := range []string{`menu="system script" property="policy winbox"`, `menu="system scheduler" property="policy api"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestV6MasterPortJoinsBridge: the export's ethernet lines made a bridge of a master port
// and its slaves; when its bridge port lines then put the master port in another bridge
// (a 6.4x default configuration's "bridge"), the slaves follow it there, the master
// port's addresses too, and the made bridge goes: one bridge, as the upgrade leaves it.
func TestV6MasterPortJoinsBridge(t *testing.T) {
	ex := controltest.New(t)
	log := captureLog(t)
	ports := map[string]bool{"ether2": true, "ether3": true, "ether4": true}
	ex.ProvideNames("/interface", func(n string) bool { return ports[n] })
	for _, c := range [][]string{
		{menu.BridgePath, "name=bridge", "comment=defconf"},
		{menu.BridgePath, "name=bridge1", "comment=created from master port", "protocol-mode=none"},
		{menu.BridgePortPath, "bridge=bridge1", "interface=ether2"},
		{menu.BridgePortPath, "bridge=bridge1", "interface=ether3"},
		{menu.Address4Path, "address=198.18.88.1/24", "interface=bridge1"},
		{menu.BridgePortPath, "bridge=bridge", "interface=ether2", "comment=defconf"},
		{menu.BridgePortPath, "bridge=bridge", "interface=ether4"},
	} {
		if _, err := exec(t, ex, c[0], "add", c[1:]...); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	var got []string
	items, _ := ex.Items(menu.BridgePortPath)
	for _, p := range items {
		got = append(got, p.Props["interface"]+" "+p.Props["bridge"])
	}
	if strings.Join(got, ",") != "ether3 bridge,ether2 bridge,ether4 bridge" {
		t.Errorf("ports %v", got)
	}
	if bridges, _ := ex.Items(menu.BridgePath); len(bridges) != 1 {
		t.Errorf("%d bridges, want the export's one", len(bridges))
	}
	if got := get(t, ex, menu.Address4Path, "", "interface"); got != "bridge" {
		t.Errorf("address on %s, want bridge", got)
	}
	if !strings.Contains(log.String(), `to="port ether3 from bridge1 to bridge (a slave of master port ether2)"`) {
		t.Errorf("log:\n%s", log)
	}
}

// TestV6MasterPortOwnAddress: a RouterOS 6 master port's own address line that comes
// after the port joined the export's bridge goes to that bridge, as the upgrade put it
// (it stayed on the port, now a bridge port); an address on a port that was never a
// master stays where it is.
func TestV6MasterPortOwnAddress(t *testing.T) {
	ex := controltest.New(t)
	ports := map[string]bool{"ether2": true, "ether3": true, "ether5": true}
	ex.ProvideNames("/interface", func(n string) bool { return ports[n] })
	sess := &control.Session{User: "admin", V6: true}
	for _, c := range [][]string{
		{menu.BridgePath, "name=bridge", "comment=defconf"},
		{menu.BridgePath, "name=bridge1", "comment=created from master port", "protocol-mode=none"},
		{menu.BridgePortPath, "bridge=bridge1", "interface=ether2"},
		{menu.BridgePortPath, "bridge=bridge1", "interface=ether3"},
		{menu.BridgePortPath, "bridge=bridge", "interface=ether2"},
		{menu.BridgePortPath, "bridge=bridge", "interface=ether5"},
		{menu.Address4Path, "address=198.18.88.1/24", "interface=ether2"},
		{menu.Address4Path, "address=198.18.89.1/24", "interface=ether5"},
	} {
		s := &control.Sentence{Path: c[0], Cmd: "add"}
		for _, a := range c[1:] {
			k, v, _ := strings.Cut(a, "=")
			s.Args = append(s.Args, control.Arg{Name: k, Value: v})
		}
		if _, err := ex.Exec(context.Background(), sess, s); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	addrs, _ := ex.Items(menu.Address4Path)
	var got []string
	for _, a := range addrs {
		got = append(got, a.Props["address"]+" "+a.Props["interface"])
	}
	if strings.Join(got, ",") != "198.18.88.1/24 bridge,198.18.89.1/24 ether5" {
		t.Errorf("addresses %v", got)
	}
}

// v6Console is an executor with the compat mappings, a function running console source
// in a RouterOS 6 session (failing the test on an error) and the log the mappings write.
func v6Console(t *testing.T) (*control.Executor, func(src string) string, *bytes.Buffer) {
	ex := controltest.New(t)
	compat.Register(ex)
	buf := captureLog(t)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin", V6: true}}
	run := func(src string) string {
		t.Helper()
		var b strings.Builder
		if err := in.Run(context.Background(), con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return b.String()
	}
	return ex, run, buf
}

// TestV6PeerProfile: RouterOS 6.43's /ip ipsec peer profile (6.44 renamed it /ip ipsec
// profile) is that menu: the line its export verbose writes sets the default profile,
// find, print and add work there, a log line says so for each command, and the v6 menu
// holds nothing.
func TestV6PeerProfile(t *testing.T) {
	ex, run, buf := v6Console(t)
	run(`/ip ipsec peer profile set [ find default=yes ] dh-group=modp2048,modp1024 dpd-interval=2m dpd-maximum-failures=5 enc-algorithm=aes-128,3des hash-algorithm=sha1 lifetime=1d name=default nat-traversal=yes proposal-check=obey`)
	for k, v := range map[string]string{"dpd-interval": "2m", "dpd-maximum-failures": "5", "enc-algorithm": "aes-128,3des", "dh-group": "modp2048,modp1024"} {
		if got := get(t, ex, menu.IPsecProfilePath, "default", k); got != v {
			t.Errorf("/ip ipsec profile default %s = %q, want %q", k, got, v)
		}
	}
	run(`/ip ipsec peer profile add name=v643 enc-algorithm=aes-256`)
	if got := get(t, ex, menu.IPsecProfilePath, "v643", "enc-algorithm"); got != "aes-256" {
		t.Errorf("added profile enc-algorithm = %q", got)
	}
	if out := run(`:put [:len [/ip ipsec peer profile find]]`); out != "2\n" {
		t.Errorf("find in the v6 menu: %q", out)
	}
	if out := run(`/ip ipsec peer profile print`); !strings.Contains(out, "v643") {
		t.Errorf("print in the v6 menu:\n%s", out)
	}
	if items, _ := ex.Items(menu.V6PeerProfilePath); len(items) != 0 {
		t.Errorf("the v6 menu holds %d items", len(items))
	}
	if out := run(`/export`); strings.Contains(out, "peer profile") || !strings.Contains(out, "enc-algorithm=aes-256 name=v643") {
		t.Errorf("export:\n%s", out)
	}
	if n := strings.Count(buf.String(), `msg="RouterOS 6 menu mapped" menu="ip ipsec peer profile"`); n < 4 {
		t.Errorf("%d log lines for 4 commands:\n%s", n, buf)
	}
}

// TestV6IPsecUserSettings: RouterOS 6's /ip ipsec user settings (its one property,
// xauth-use-radius, is in /ip ipsec settings since 7) is that menu: the line a 6.43
// export writes sets /ip ipsec settings, print shows it there, a log line says so for
// each command, and the v6 menu holds nothing nor exports anything.
func TestV6IPsecUserSettings(t *testing.T) {
	ex, run, buf := v6Console(t)
	for _, v := range []string{"yes", "no"} {
		run(`/ip ipsec user settings set xauth-use-radius=` + v)
		if got := get(t, ex, menu.IPsecSettingsPath, "", "xauth-use-radius"); got != v {
			t.Errorf("/ip ipsec settings xauth-use-radius = %q, want %q", got, v)
		}
	}
	if out := run(`/ip ipsec user settings print`); !strings.Contains(out, "xauth-use-radius: no") {
		t.Errorf("print in the v6 menu:\n%s", out)
	}
	if items, _ := ex.Items(menu.V6UserSettingsPath); len(items) != 0 {
		t.Errorf("the v6 menu holds %d items", len(items))
	}
	if out := run(`/export`); strings.Contains(out, "user settings") || !strings.Contains(out, "/ip ipsec settings\nset xauth-use-radius=no") {
		t.Errorf("export:\n%s", out)
	}
	if n := strings.Count(buf.String(), `msg="RouterOS 6 menu mapped" menu="ip ipsec user settings"`); n < 3 {
		t.Errorf("%d log lines for 3 commands:\n%s", n, buf)
	}
}

// TestV6ImportOneTransaction: an import of lines on menus with a RouterOS 6 migration
// runs in the import's transaction, as other menus' lines do, not in two commits (disk
// syncs) of its own per line; and a line refused there still leaves nothing of its own,
// not even what its migration made first (a peer's profile and identity, a mangle
// mark's table), while the lines before and after it stay.
func TestV6ImportOneTransaction(t *testing.T) {
	ex, run, _ := v6Console(t)
	var commits atomic.Int64
	ex.Store.Observe = func(time.Duration, error) { commits.Add(1) }
	count := func(path string) int {
		items, err := ex.Items(path)
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	peers, profs, ids, tables := count("/ip/ipsec/peer"), count("/ip/ipsec/profile"), count("/ip/ipsec/identity"), count("/routing/table")
	const scripts = 1000
	out := run(`/ip ipsec peer
add address=198.18.50.1/32 secret=a dh-group=modp2048
:do { add address=198.18.50.3/32 auth-method=bogus dh-group=modp2048 } on-error={:put refused1}
add address=198.18.50.2/32 secret=b dh-group=modp2048
/ip firewall mangle
add chain=prerouting action=mark-routing new-routing-mark=good passthrough=no
:do { add chain=prerouting action=mark-routing new-routing-mark=bad passthrough=maybe } on-error={:put refused2}
/system script
:for i from=1 to=` + strconv.Itoa(scripts) + ` do={ add name="s$i" source=":put $i" }
`)
	if out != "refused1\nrefused2\n" {
		t.Errorf("output %q, want both bad lines refused", out)
	}
	if p, f, i := count("/ip/ipsec/peer"), count("/ip/ipsec/profile"), count("/ip/ipsec/identity"); p != peers+2 || f != profs+2 || i != ids+2 {
		t.Errorf("peers %d->%d profiles %d->%d identities %d->%d, want 2 more each", peers, p, profs, f, ids, i)
	}
	if got := get(t, ex, "/ip/ipsec/peer", "peer2", "address"); got != "198.18.50.2/32" {
		t.Errorf("peer2 address = %q", got)
	}
	if n := count("/routing/table"); n != tables+1 {
		t.Errorf("routing tables %d->%d, want only the good line's", tables, n)
	}
	if n := count(menu.ManglePath); n != 1 {
		t.Errorf("%d mangle rules, want 1", n)
	}
	if n := count(menu.ScriptPath); n != scripts {
		t.Errorf("%d scripts, want %d", n, scripts)
	}
	// Commits of its own around each line made it 1,003; the batch commits every FlushAfter
	// (20 ms) at most, and the import takes well under 10 s even under load.
	if n := commits.Load(); n > scripts/2 {
		t.Errorf("%d commits for %d migrated lines", n, scripts+4)
	}
}
