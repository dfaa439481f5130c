package examples

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/refcmd"
)

// refUnit is one unit of reference-commands.txt (control/script parses the same units
// against the bare interpreter).
type refUnit = refcmd.Unit

func loadUnits(t *testing.T) []refUnit {
	t.Helper()
	units, err := refcmd.Load("../testdata/reference-commands.txt")
	if err != nil {
		t.Fatal(err)
	}
	return units
}

// excluded are the files outside this test: IPsec (its peers and the kernel's missing ESP
// are test/ipsec's business) and the VPN index (a table of links, no commands).
var excluded = map[string]bool{"10-ip-ipsec.txt": true, "05-vpn-index.txt": true}

// refOnB: units of the other router of a two-router example (the excerpts interleave
// both ends: the GRE page adds both tunnels, then both addresses, then both routes); the
// rest run on router A.
var refOnB = map[string]string{
	"06-interface-6to4.txt:161": "the other end of the 6to4 tunnel",
	"06-interface-6to4.txt:165": "its address",
	"06-interface-6to4.txt:169": "its route",
	"08-interface-gre.txt:224":  "the other end of the GRE tunnel",
	"08-interface-gre.txt:233":  "its address",
	"08-interface-gre.txt:236":  "its route",
}

// refAllow: units that fail as written, with the error and why.
var refAllow = map[string]struct{ err, why string }{
	"07-interface-eoip.txt:203": {"input does not match any value of bridge",
		"the excerpt adds the port before the bridge it names (RouterOS refuses it the same way)"},
}

// links are the interfaces the examples name; each is a veth whose peer sits in a
// namespace of the test's, so whatever the examples send stays inside the test.
var links = []string{"sfp28-1", "sfp28-2", "sfp28-12", "ether1", "ether2", "bridge-local"}

// TestReferenceExamplesDaemon runs every example command of the manual excerpts outside
// IPsec and the VPN index, as written, against a fresh routerd per router of each example
// (its own namespace; the example's links are veths to a peer namespace, which has no
// route anywhere else, so the examples' public addresses are unreachable by
// construction). Every unit must succeed, the ones that RouterOS's own missing packages
// would refuse included (/ping, /queue simple, /tool e-mail, /ipv6 nd).
func TestReferenceExamplesDaemon(t *testing.T) {
	need(t)
	units := loadUnits(t)
	if len(units) < 100 {
		t.Fatalf("only %d units", len(units))
	}
	keys := map[string]bool{}
	for _, u := range units {
		keys[u.Key()] = true
	}
	for k := range refAllow {
		if !keys[k] {
			t.Errorf("refAllow names %s, which is no unit", k)
		}
	}
	for k := range refOnB {
		if !keys[k] {
			t.Errorf("refOnB names %s, which is no unit", k)
		}
	}
	var files []string
	byFile := map[string][]refUnit{}
	for _, u := range units {
		if excluded[u.File] {
			continue
		}
		if _, ok := byFile[u.File]; !ok {
			files = append(files, u.File)
		}
		byFile[u.File] = append(byFile[u.File], u)
	}
	n := 0
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			routers := map[string]*router{}
			tag := strings.SplitN(file, "-", 2)[0]
			get := func(which string) *router {
				if r, ok := routers[which]; ok {
					return r
				}
				rn, pn := netns(t, which+tag+"r"), netns(t, which+tag+"p")
				for i, l := range links {
					veth(t, rn, l, pn, "p"+strconv.Itoa(i))
				}
				routers[which] = startRouter(t, rn)
				return routers[which]
			}
			get("a")
			for _, u := range byFile[file] {
				key := u.Key()
				r := get("a")
				if _, ok := refOnB[key]; ok {
					r = get("b")
				}
				src := u.Src
				for _, p := range u.Prompts {
					name, val, _ := strings.Cut(p, ": ")
					src += " " + name + "=" + val
				}
				if u.Menu != "/" {
					src = "/" + strings.ReplaceAll(strings.Trim(u.Menu, "/"), "/", " ") + "\n" + src
				}
				out, err := runUnit(r, src)
				n++
				allow, allowed := refAllow[key]
				switch {
				case allowed && err == nil:
					t.Errorf("%s: allowlisted (%s) but succeeded", key, allow.why)
				case allowed && !strings.Contains(out, allow.err):
					t.Errorf("%s: %s\n%v %s; allowlisted with %q", key, u.Src, err, out, allow.err)
				case !allowed && err != nil:
					t.Errorf("%s: %s\n%v: %s", key, strings.ReplaceAll(u.Src, "\n", `\n`), err, out)
				}
			}
		})
	}
	t.Logf("%d units run", n)
}

// runUnit runs one unit as a script. A monitor without once runs until interrupted, as
// on RouterOS: it must print its values for two seconds without an error.
func runUnit(r *router, src string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	monitor := strings.Contains(src, " monitor ") && !strings.Contains(src, "once")
	if monitor {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(context.Background(), 2*time.Second)
		defer c2()
	}
	c := exec.CommandContext(ctx, filepath.Join(binDir, "routerctl"), "--socket", r.sock(), "-f", "-")
	c.Stdin = strings.NewReader(src + "\n")
	out, err := c.CombinedOutput()
	if monitor && ctx.Err() == context.DeadlineExceeded && len(out) > 0 && !strings.Contains(string(out), "failure") {
		return string(out), nil
	}
	return string(out), err
}
