package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// binDir holds routerd and routerctl, built once by TestMain for the tests that run the
// whole daemon (streams need its engines: monitor-traffic, ping, the console over ssh).
var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.MainInNetns(m, &binDir)) }

// daemon is one routerd process (testbin.Router) with services on free ports of
// 127.0.0.1.
type daemon struct {
	*testbin.Router
	t     *testing.T
	data  string
	sock  string
	pw    string
	ports map[string]int
	log   *testbin.Buffer
}

func startDaemon(t *testing.T, services ...string) *daemon {
	t.Helper()
	tr := testbin.Start(t, binDir, testbin.Options{Args: []string{"--service-bind", "127.0.0.1"}})
	d := &daemon{Router: tr, t: t, data: tr.Opts.Data, sock: tr.Sock, ports: map[string]int{}, log: tr.Log}
	// --metrics-listen 127.0.0.1:0: the start line names the port the kernel picked.
	metricsRE := regexp.MustCompile(`routerd started.* metrics=127\.0\.0\.1:(\d+)`)
	testbin.Eventually(t, "the start line naming the bound metrics port", 0, func() (bool, string) {
		m := metricsRE.FindStringSubmatch(d.log.String())
		return m != nil && m[1] != "0", testbin.Tail(d.log.String(), 2000)
	})
	d.pw = fmt.Sprintf("interop-%d", time.Now().UnixNano())
	var b strings.Builder
	fmt.Fprintf(&b, "/user set admin password=%s\n", d.pw)
	for _, s := range services {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		d.ports[s] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		fmt.Fprintf(&b, "/ip service set %s port=%d disabled=no\n", s, d.ports[s])
	}
	d.ctl(b.String())
	for _, s := range services {
		testbin.Eventually(t, "service "+s+" listening", 0, func() (bool, string) {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.ports[s]))
			if err == nil {
				c.Close()
			}
			return err == nil, fmt.Sprint(err)
		})
	}
	return d
}

// ctl runs a script through routerctl.
func (d *daemon) ctl(src string) string {
	d.t.Helper()
	return d.Script(src)
}

// TestNodeStreams: node-routeros with keepalive on holds a monitor-traffic stream for
// 60 s (its keepalive `#` is answered under its tag meanwhile), then cancels it;
// routeros-client streams print follow; both see their tags on every reply.
func TestNodeStreams(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat("node/node_modules/node-routeros"); err != nil {
		t.Skip("node modules not installed: run npm ci in test/interop/node (.ci/run does)")
	}
	d := startDaemon(t, "api")
	hold := "60"
	if testing.Short() {
		hold = "12"
	}
	out := runClient(t, node, "node/streams.js", "127.0.0.1", fmt.Sprint(d.ports["api"]), "admin", d.pw, hold)
	if !strings.Contains(out, "OK") {
		t.Fatal(out)
	}
	t.Log(out)
}

// TestLibrouterosStreams: librouteros runs tagged streaming commands (monitor-traffic
// with duration=, ping with count=, print follow cancelled by /cancel) and reads every
// reply under its tag.
func TestLibrouterosStreams(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	d := startDaemon(t, "api")
	out := runClient(t, py, "librouteros_streams.py", "127.0.0.1", fmt.Sprint(d.ports["api"]), "admin", d.pw)
	if !strings.Contains(out, "OK") {
		t.Fatal(out)
	}
}

// TestRESTStreams: curl POSTs streaming commands to REST, which answers the rows of a
// bounded run (count=, duration=, once) as one JSON array, as RouterOS's REST does.
func TestRESTStreams(t *testing.T) {
	curl := need(t, "curl")
	d := startDaemon(t, "www")
	post := func(path, body string) string {
		t.Helper()
		return runClient(t, curl, "-sS", "-u", "admin:"+d.pw, "-H", "content-type: application/json",
			"-X", "POST", fmt.Sprintf("http://127.0.0.1:%d/rest%s", d.ports["www"], path), "--data", body)
	}
	out := post("/ping", `{"address":"127.0.0.1","count":"3","interval":"200ms"}`)
	if n := strings.Count(out, `"seq":`); n != 3 || !strings.Contains(out, `"received":"3"`) {
		t.Fatalf("ping count=3 over REST: %s", out)
	}
	out = post("/interface/monitor-traffic", `{"interface":"lo","duration":"3500ms"}`)
	if n := strings.Count(out, `"rx-bits-per-second":`); n < 2 || n > 4 {
		t.Fatalf("monitor-traffic duration=3.5s over REST: %d samples: %s", n, out)
	}
	out = post("/interface/monitor-traffic", `{"interface":"lo","once":""}`)
	if n := strings.Count(out, `"rx-bits-per-second":`); n != 1 {
		t.Fatalf("monitor-traffic once over REST: %s", out)
	}
	out = runClient(t, curl, "-sS", "-u", "admin:"+d.pw, fmt.Sprintf("http://127.0.0.1:%d/rest/system/resource", d.ports["www"]))
	if !strings.Contains(out, `"free-memory":"`) || strings.Contains(out, `iB"`) {
		t.Fatalf("resource over REST must carry plain byte counts: %s", out)
	}
}

// TestAnsibleNetworkCLI: Ansible's community.routeros command and facts modules over ssh
// (network_cli), which run /system routerboard print, /system package print and
// print without-paging, and parse /system resource print; and api_facts over the API,
// whose hardware facts need plain byte counts.
func TestAnsibleNetworkCLI(t *testing.T) {
	pb := need(t, "ansible-playbook")
	need(t, "sshpass")
	if _, err := os.Stat("/usr/lib/python3/dist-packages/ansible_collections/community/routeros"); err != nil {
		t.Skip("community.routeros collection not installed (Debian package ansible)")
	}
	d := startDaemon(t, "ssh", "api")
	inv := filepath.Join(t.TempDir(), "inventory")
	os.WriteFile(inv, []byte(fmt.Sprintf("router ansible_host=127.0.0.1 ansible_port=%d api_port=%d ansible_user=admin ansible_password=%s "+
		"ansible_connection=ansible.netcommon.network_cli ansible_network_os=community.routeros.routeros "+
		"ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n", d.ports["ssh"], d.ports["api"], d.pw)), 0o600)
	cmd := exec.Command(pb, "-i", inv, "ansible-cli.yml")
	cmd.Env = append(os.Environ(), "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_PERSISTENT_COMMAND_TIMEOUT=60")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "failed=0") {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
}

// TestFilesFromFTPExportBackup: a file uploaded with curl over ftp, an export and a
// backup all show in /file print with their types and sizes, and /file remove deletes
// them from the file store.
func TestFilesFromFTPExportBackup(t *testing.T) {
	curl := need(t, "curl")
	d := startDaemon(t, "ftp")
	up := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(up, []byte("uploaded over ftp\n"), 0o600)
	runClient(t, curl, "-sS", "-T", up, "--user", "admin:"+d.pw, fmt.Sprintf("ftp://127.0.0.1:%d/", d.ports["ftp"]))
	d.ctl("/export file=cfg\n/system backup save name=nightly\n")
	out := d.ctl("/file print\n")
	for _, want := range []string{"notes.txt", ".txt file", "cfg.rsc", "script", "nightly.backup", "backup", "18B"} {
		if !strings.Contains(out, want) {
			t.Errorf("/file print lacks %q:\n%s", want, out)
		}
	}
	if got := d.ctl(":put [/file get notes.txt contents]\n"); got != "uploaded over ftp\n\n" {
		t.Errorf("contents: %q", got)
	}
	d.ctl("/file remove notes.txt,cfg.rsc\n")
	if _, err := os.Stat(filepath.Join(d.data, "files", "notes.txt")); !os.IsNotExist(err) {
		t.Errorf("notes.txt still in the file store: %v", err)
	}
	if out := d.ctl("/file print\n"); strings.Contains(out, "notes.txt") || !strings.Contains(out, "nightly.backup") {
		t.Errorf("after remove:\n%s", out)
	}
}

// TestLibrouterosTLS: api-ssl with a certificate made in /certificate, as RouterOS's
// manual sets it up (add, sign, /ip service set api-ssl certificate=), and librouteros
// over TLS verifying it against the CA exported with export-certificate.
func TestLibrouterosTLS(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	d := startDaemon(t, "api-ssl")
	d.ctl(`/certificate add name=ca common-name=interop-ca key-usage=key-cert-sign,crl-sign
/certificate sign ca
/certificate add name=srv common-name=127.0.0.1 subject-alt-name=IP:127.0.0.1
/certificate sign srv ca=ca
/certificate export-certificate ca file-name=interop-ca
/ip service set api-ssl certificate=srv
`)
	ca := filepath.Join(d.data, "files", "interop-ca.crt")
	// The service manager picks the certificate up on its next pass.
	var out string
	testbin.Eventually(t, "librouteros verifying api-ssl's certificate", 0, func() (bool, string) {
		b, err := exec.Command(py, "librouteros_tls.py", "127.0.0.1", fmt.Sprint(d.ports["api-ssl"]), "admin", d.pw, ca).CombinedOutput()
		out = string(b)
		return err == nil && strings.Contains(out, "OK"), out
	})
	if st := d.ctl("/ip service print where name=api-ssl and invalid\n"); strings.Contains(st, "api-ssl") {
		t.Errorf("api-ssl invalid:\n%s", st)
	}
}

// TestUserActiveConsole: routerctl's session on the console socket is listed in
// /user active (via=console) while it runs, beside an ssh session held by the ssh
// client; both leave the list when they end.
func TestUserActiveConsole(t *testing.T) {
	ssh := need(t, "ssh")
	sshpass := need(t, "sshpass")
	d := startDaemon(t, "ssh")
	out := d.ctl("/user active print\n")
	if !strings.Contains(out, "console") || !strings.Contains(out, "admin") {
		t.Fatalf("/user active lacks the console session:\n%s", out)
	}
	b, err := exec.Command(sshpass, "-p", d.pw, ssh, "-p", fmt.Sprint(d.ports["ssh"]), "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "admin@127.0.0.1", "/user active print").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "ssh") || !strings.Contains(string(b), "127.0.0.1") {
		t.Fatalf("/user active over ssh: %v\n%s", err, b)
	}
	testbin.Eventually(t, "only this console session left", 0, func() (bool, string) {
		out := d.ctl("/user active print\n")
		return strings.Count(out, "admin") == 1 && !strings.Contains(out, "ssh"), out
	})
}
