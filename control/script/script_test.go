package script

import (
	"context"
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
)

// newInterp returns an interpreter over a fresh store with the full menu tree.
func newInterp(t testing.TB) (*Interp, *Console) {
	t.Helper()
	ex := controltest.New(t)
	in := &Interp{Ex: ex, Globals: &Globals{}}
	return in, &Console{Sess: &control.Session{User: "admin", ShowSensitive: true}}
}

func runSrc(t testing.TB, in *Interp, c *Console, src string) (string, error) {
	t.Helper()
	var b strings.Builder
	err := in.Run(context.Background(), c, src, &b)
	return b.String(), err
}

func mustRun(t testing.TB, in *Interp, c *Console, src string) string {
	t.Helper()
	out, err := runSrc(t, in, c, src)
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return out
}

func TestConsoleBasics(t *testing.T) {
	in, c := newInterp(t)
	for _, tc := range []struct{ src, want string }{
		{`:put [/system identity get name]`, "MikroTik\n"},
		{`/system identity set name=r1`, ""},
		{`:put [/system identity get name]`, "r1\n"},
		{`/interface gre add name=myGre remote-address=192.168.90.1 local-address=192.168.80.1`, ""},
		{`/interface/gre/add name=gre2 remote-address=10.0.0.2`, ""},
		{`:put [/interface gre find where name="gre2"]`, "*2\n"},
		{`:put [/interface gre get [find name=myGre] remote-address]`, "192.168.90.1\n"},
		// find takes a condition without where, as RouterOS scripts write it.
		{`:put [/interface gre find name~"^gre"]`, "*2\n"},
		{`:put [/interface gre get [find name~"^my"] remote-address]`, "192.168.90.1\n"},
		{`:put [:len [/interface gre find name!="gre2" disabled=no]]`, "1\n"},
		{`:put [:len [/interface gre find]]`, "2\n"},
		{`/interface gre set myGre mtu=1400`, ""},
		{`:put [/interface gre get myGre mtu]`, "1400\n"},
		{`:local x 3; :put ($x * 2)`, "6\n"},
		{`:put (1d2h3m)`, "1d02:03:00\n"},
		{`:put ("a" . 1)`, "a1\n"},
		{`:put (10.0.0.15 + 10)`, "10.0.0.25\n"},
		{`:if (3 > 2) do={ :put "big" } else={ :put "small" }`, "big\n"},
		{`:for i from=1 to=3 do={ :put $i }`, "1\n2\n3\n"},
		{`:foreach k,v in={a=1;b=2} do={ :put "$k=$v" }`, "a=1\nb=2\n"},
		{`:do { :error "boom" } on-error={ :put caught }`, "caught\n"},
		{`/interface gre print count-only`, "2\n"},
		{`:put [/interface gre print count-only where mtu>1450]`, "1\n"},
		// .id in conditions, as scripts write `remove [find where .id=$x]`.
		{`:put [/interface gre find where .id=*2]`, "*2\n"},
		{`:put [/interface gre find .id!=*2]`, "*1\n"},
		{`/interface gre print count-only where .id=*1 or .id="*2"`, "2\n"},
		{`:local x [/interface gre find where name=myGre]; :put [/interface gre get [find where .id=$x] name]`, "myGre\n"},
		{`:put ("a"."b")`, "ab\n"},
		{`:put (10+1-6*2=11-12=2+(-3)=-1)`, "false\n"},
		{`:put ("ether1" ~ "^eth")`, "true\n"},
		{`:put (10.1.2.3 in 10.0.0.0/8)`, "true\n"},
	} {
		out, err := runSrc(t, in, c, tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if out != tc.want {
			t.Errorf("%s: got %q want %q", tc.src, out, tc.want)
		}
	}
}

func TestConsoleErrors(t *testing.T) {
	in, c := newInterp(t)
	mustRun(t, in, c, `/interface gre add name=g1 remote-address=10.0.0.2`)
	for _, tc := range []struct{ src, want string }{
		{`/nonsense command`, "bad command name nonsense (line 1 column 2)"},
		{`/interface/gre/print bogus=1`, "expected end of command (line 1 column 22)"},
		{`/interface gre add name=g1 remote-address=10.0.0.3`, "failure: already have such name"},
		{`/interface gre set nosuch mtu=1400`, "no such item"},
		{`/interface gre set g1 mtu=70000`, "value of mtu out of range (0..65536)"},
		{`/interface gre set g1 dont-fragment=maybe`, "input does not match any value of dont-fragment"},
		{`/interface gre set g1 remote-address=300.1.1.1`, "invalid value for argument remote-address"},
		{`/queue simplex add name=x`, "bad command name simplex (line 1 column 8)"},
		{"/system identity set name=ok\n/bogus", "bad command name bogus (line 2 column 2)"},
	} {
		_, err := runSrc(t, in, c, tc.src)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v want %q", tc.src, err, tc.want)
		}
	}
	// The unit with a syntax error on line 2 ran nothing.
	if out := mustRun(t, in, c, `:put [/system identity get name]`); out != "MikroTik\n" {
		t.Errorf("identity changed by a failed unit: %q", out)
	}
}

func TestPathChangeAndRelative(t *testing.T) {
	in, c := newInterp(t)
	mustRun(t, in, c, "/interface gre\nadd name=a remote-address=10.0.0.1\nadd name=b remote-address=10.0.0.2\n")
	if c.Path != "/interface/gre" {
		t.Fatalf("path %q", c.Path)
	}
	out := mustRun(t, in, c, `:put [:len [find]]`)
	if out != "2\n" {
		t.Fatalf("relative find: %q", out)
	}
	mustRun(t, in, c, `.. eoip add name=e1 remote-address=10.0.0.3 tunnel-id=5`)
	mustRun(t, in, c, `/`)
	if c.Path != "" {
		t.Fatalf("root: %q", c.Path)
	}
	mustRun(t, in, c, "/interface gre \\\n  set a \\\n  mtu=1300")
	if out := mustRun(t, in, c, `:put [/interface gre get a mtu]`); out != "1300\n" {
		t.Fatalf("continuation: %q", out)
	}
}
