package ipsec

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/iketest"
)

// TestAlgorithmWording: a value that names no algorithm at all is refused as RouterOS
// refuses it ("input does not match any value of pfs-group"), a real algorithm the
// build lacks keeps "not supported by this build", and sha384 (RouterOS 7) is taken as
// the profile's hash and a proposal's auth algorithm. Before, bogus names were said
// to be missing from the build and sha384 was refused (QA, libreswan).
func TestAlgorithmWording(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipalg")
	r := startRouter(t, ns, false)
	r.run(t, `/ip ipsec proposal add name=p1
/ip ipsec profile add name=pr1`)
	for _, c := range []struct{ cmd, want string }{
		{"/ip ipsec proposal set p1 pfs-group=bogus", "input does not match any value of pfs-group"},
		{"/ip ipsec profile set pr1 dh-group=bogus", "input does not match any value of dh-group"},
		{"/ip ipsec proposal set p1 enc-algorithms=bogus", "input does not match any value of enc-algorithms"},
		{"/ip ipsec profile set pr1 enc-algorithm=aes-128,bogus", "input does not match any value of enc-algorithm"},
		{"/ip ipsec proposal add name=p2 auth-algorithms=bogus", "input does not match any value of auth-algorithms"},
		{"/ip ipsec profile set pr1 hash-algorithm=bogus", "input does not match any value of hash-algorithm"},
		{"/ip ipsec profile set pr1 enc-algorithm=blowfish", "enc-algorithm blowfish is not supported by this build"},
		{"/ip ipsec proposal set p1 enc-algorithms=camellia-128", "enc-algorithms camellia-128 is not supported by this build"},
	} {
		err := r.try(c.cmd)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.cmd, err, c.want)
		}
	}
	r.run(t, `/ip ipsec profile set pr1 hash-algorithm=sha384
/ip ipsec proposal set p1 auth-algorithms=sha384,sha256`)
	out := r.run(t, "/ip ipsec profile print detail where name=pr1\n/ip ipsec proposal print detail where name=p1")
	if !strings.Contains(out, "hash-algorithm=sha384") || !strings.Contains(out, "auth-algorithms=sha384,sha256") {
		t.Errorf("sha384 not kept:\n%s", out)
	}
}
