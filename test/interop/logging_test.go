package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/test/testbin"
)

// TestSystemLogging follows the reference's IPsec troubleshooting step and RouterOS's Log
// manual as an operator would, on a routerd in its own namespace (its IKE daemon binds
// UDP 500 there): the default rules, `add topics=ipsec,!debug`, topics=ipsec,debug
// bringing the IKE daemon's debug lines into /log, a disk action writing files that
// /file lists, an echo action writing to routerd's standard error, and a remote action
// sending to rsyslogd (Debian's syslog server) in the same namespace.
func TestSystemLogging(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	testbin.Need(t, "ip", "nsenter")
	ns := testbin.Netns(t, "log", "")
	d := testbin.Start(t, binDir, testbin.Options{Netns: ns})

	out := d.Must("/system", "logging", "print")
	for _, want := range []string{"0 *   info     memory", "1 *   error    memory", "2 *   warning  memory", "3 *   critical echo"} {
		if !strings.Contains(out, want) {
			t.Errorf("default rules lack %q:\n%s", want, out)
		}
	}
	d.Script(":log debug \"debug-before-any-rule\"\n")
	// The reference's step, then the one that shows IKE's debug records.
	d.Script("/system logging add topics=ipsec,!debug\n/system logging add topics=ipsec,debug prefix=IKE\n")
	if _, err := d.Ctl(nil, "/system", "logging", "add", "topics=ipsec,bogus"); err == nil {
		t.Error("an unknown topic was accepted")
	}
	d.Script(`/ip ipsec peer add name=p1 address=198.18.77.1 exchange-mode=ike2
/ip ipsec identity add peer=p1 secret=a-long-test-secret
/ip ipsec policy add peer=p1 src-address=198.19.1.0/24 dst-address=198.19.2.0/24 tunnel=yes
`)
	// Without a route the initiation fails; the daemon repeats the reason at debug level.
	testbin.Eventually(t, "an ipsec,debug line in /log", 0, func() (bool, string) {
		out := d.Must("/log", "print", "where", "topics~\"debug\"")
		return strings.Contains(out, "ipsec,debug") && strings.Contains(out, "IKE ipsec: cannot initiate"), out
	})
	if out := d.Must("/log", "print"); strings.Contains(out, "debug-before-any-rule") {
		t.Errorf("a debug entry reached /log under the default rules:\n%s", out)
	}

	// disk: three lines per file, two files, in the file store.
	d.Script(`/system logging action add name=scriptdisk target=disk disk-file-name=scriptlog disk-lines-per-file=3 disk-file-count=2
/system logging add topics=script action=scriptdisk
`)
	// The engine applies the rule asynchronously: log until it does.
	testbin.Eventually(t, "script entries in the disk action's file", 0, func() (bool, string) {
		d.Script(":log info \"warm-up\"\n")
		out := d.Script(":put [/file get [find name~\"^scriptlog\"] contents]\n")
		return strings.Contains(out, "warm-up"), out
	})
	d.Script(":for i from=1 to=5 do={ :log info \"disk line $i\" }\n")
	if out := d.Must("/file", "print"); !strings.Contains(out, "scriptlog.0.txt") || !strings.Contains(out, "scriptlog.1.txt") ||
		strings.Contains(out, "scriptlog.2.txt") || strings.Contains(out, " log.0.txt") {
		t.Errorf("/file print after rotation:\n%s", out)
	}
	if got := d.Script(":put [/file get scriptlog.0.txt contents]\n"); !strings.Contains(got, "script,info disk line 5") || strings.Contains(got, "disk line 2") {
		t.Errorf("scriptlog.0.txt: %q", got)
	}

	// echo: routerd's standard error.
	d.Script("/system logging add topics=script,warning action=echo\n")
	testbin.Eventually(t, "the echoed entry on routerd's standard error", 0, func() (bool, string) {
		d.Script(":log warning \"echo-me-please\"\n")
		return strings.Contains(d.Log.String(), "script,warning echo-me-please"), testbin.Tail(d.Log.String(), 1000)
	})

	// remote: rsyslogd in the namespace receives RFC 3164 messages.
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skipf("rsyslogd not installed (see .ci/run): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "rsyslog.conf")
	got := filepath.Join(dir, "received.log")
	os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory="%s")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="5514")
template(name="raw" type="string" string="%%hostname%% %%syslogfacility-text%%.%%syslogseverity-text%% %%syslogtag%%%%msg%%\n")
*.* action(type="omfile" file="%s" template="raw")
`, dir, got)), 0o600)
	rs := testbin.In(ns, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	rs.Stdout, rs.Stderr = d.Log, d.Log
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Process.Kill(); rs.Wait() })
	d.Script(`/system identity set name=edge1
/system logging action set remote remote=127.0.0.1 remote-port=5514 bsd-syslog=yes syslog-facility=local3
/system logging add topics=ipsec,!debug action=remote prefix=VPN
/system logging add topics=script action=remote
`)
	testbin.Eventually(t, "rsyslogd receiving routerd's entries", 0, func() (bool, string) {
		d.Script(":log error \"to-syslog\"\n")
		b, _ := os.ReadFile(got)
		return strings.Contains(string(b), "edge1 local3.err script,error to-syslog"), string(b)
	})
	// The rules are applied now (the script line came through them), so the IPsec
	// engine's warning, which it logs once per cause, cannot go out before them.
	d.Script("/ip ipsec peer set p1 address=198.18.77.2\n")
	testbin.Eventually(t, "rsyslogd receiving the IPsec warning", 0, func() (bool, string) {
		b, _ := os.ReadFile(got)
		return strings.Contains(string(b), "local3.warning ipsec,warning VPN ipsec: cannot initiate peer=p1 err=\"no route to 198.18.77.2"), string(b)
	})
	if out := d.Must("/system", "logging", "action", "print", "where", "invalid"); strings.Contains(out, "remote") {
		t.Errorf("remote action invalid:\n%s", out)
	}
}
