package interop

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestACLFromNamespaces: a client in a namespace outside the api service's address
// list is refused, and served once its prefix is listed. The service listens on the
// host end of a veth pair; the client (librouteros) runs in the namespace.
func TestACLFromNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	need(t, "ip")
	need(t, "nsenter")
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	ns := fmt.Sprintf("svc%d", os.Getpid())
	host, peer := "svch"+fmt.Sprint(os.Getpid()%100000), "svcp"+fmt.Sprint(os.Getpid()%100000)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	sh("ip", "netns", "add", ns)
	sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	sh("ip", "link", "set", peer, "netns", ns)
	sh("ip", "addr", "add", "198.18.60.1/24", "dev", host)
	sh("ip", "link", "set", host, "up")
	sh("ip", "-n", ns, "addr", "add", "198.18.60.2/24", "dev", peer)
	sh("ip", "-n", ns, "link", "set", peer, "up")
	sh("ip", "-n", ns, "link", "set", "lo", "up")

	r := newRouter(t, "198.18.60.1")
	r.run(t, "/ip/service", "set", "numbers", "api", "address", "198.18.61.0/24,2001:db8::/32")
	script := `
import sys
from librouteros import connect
try:
    connect(host="198.18.60.1", port=int(sys.argv[1]), username="admin", password=sys.argv[2], timeout=20).close()
    print("served")
except Exception as e:
    print("refused:", type(e).__name__)
`
	client := func() string {
		out, _ := exec.Command("nsenter", "--net=/run/netns/"+ns, py, "-c", script, fmt.Sprint(r.port), r.pw).CombinedOutput()
		return string(out)
	}
	if out := client(); !strings.Contains(out, "refused") {
		t.Fatalf("client outside the address list: %s", out)
	}
	r.run(t, "/ip/service", "set", "numbers", "api", "address", "198.18.60.0/24")
	// The watcher applies the new list asynchronously; retry until it has.
	var out string
	for i := 0; i < 50; i++ {
		if out = client(); strings.Contains(out, "served") {
			return
		}
	}
	t.Fatalf("client inside the address list: %s", out)
}
