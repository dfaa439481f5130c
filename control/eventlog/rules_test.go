package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
)

func TestRuleMatch(t *testing.T) {
	for _, c := range []struct {
		topics, entry string
		want          bool
	}{
		{"info", "system,info", true},
		{"info", "ipsec,debug", false},
		{"ipsec,!debug", "ipsec,info", true},
		{"ipsec,!debug", "ipsec", true},
		{"ipsec,!debug", "ipsec,debug", false},
		{"ipsec,debug", "ipsec,debug", true},
		{"ipsec,debug", "ipsec,info", false},
		{"ipsec,debug", "system,debug", false},
		{"!debug", "system,info", true},
		{"critical", "system,error,critical", true},
	} {
		r := ParseRule(c.topics, "memory", "")
		if got := r.Match(strings.Split(c.entry, ",")); got != c.want {
			t.Errorf("topics=%s entry %s: %v, want %v", c.topics, c.entry, got, c.want)
		}
	}
}

// TestDefaultRules: with RouterOS's default rules, info/warning/error reach /log, debug
// does not, critical goes to echo (and to /log through error).
func TestDefaultRules(t *testing.T) {
	b := New(10)
	var echo bytes.Buffer
	b.Echo = &echo
	log := slog.New(b.Handler(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	log.Debug("dbg", "topic", "ipsec")
	log.Info("inf", "topic", "ipsec")
	log.Warn("wrn")
	log.Log(context.Background(), slog.LevelError, "crit", TopicsKey, "system,error,critical")
	var got []string
	for _, e := range b.Entries() {
		got = append(got, strings.Join(e.Topics, ",")+" "+e.Message)
	}
	if want := "ipsec,info inf|system,warning wrn|system,error,critical crit"; strings.Join(got, "|") != want {
		t.Errorf("/log: %q, want %q", strings.Join(got, "|"), want)
	}
	if !strings.Contains(echo.String(), "system,error,critical crit") || strings.Contains(echo.String(), "inf") {
		t.Errorf("echo: %q", echo.String())
	}
	if b.WantsDebug() {
		t.Error("default rules want debug")
	}
}

// TestDebugRule: topics=ipsec,debug brings ipsec's debug records (and only those) into
// /log, with the rule's prefix; the handler asks for debug records only then.
func TestDebugRule(t *testing.T) {
	b := New(10)
	h := b.Handler(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled with the default rules")
	}
	c := DefaultConfig()
	c.Rules = append(c.Rules, ParseRule("ipsec,debug", "memory", "IKE"))
	if errs := b.SetConfig(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	if !h.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug not enabled with topics=ipsec,debug")
	}
	log := slog.New(h)
	log.With("topic", "ipsec").Debug("ipsec: send failed", "peer", "p1")
	log.Debug("other debug")
	es := b.Entries()
	if len(es) != 1 || strings.Join(es[0].Topics, ",") != "ipsec,debug" || es[0].Message != "IKE ipsec: send failed peer=p1" {
		t.Fatalf("entries: %+v", es)
	}
}

func TestMemoryLines(t *testing.T) {
	b := New(10)
	for i := 0; i < 8; i++ {
		b.Log([]string{"system", "info"}, string(rune('a'+i)))
	}
	c := DefaultConfig()
	c.Actions[0].MemoryLines = 3
	b.SetConfig(c)
	if es := b.Entries(); len(es) != 3 || es[0].Message != "f" || es[2].Message != "h" {
		t.Fatalf("after memory-lines=3: %+v", es)
	}
	c.Actions[0].MemoryStopOnFull = true
	b.SetConfig(c)
	b.Log([]string{"system", "info"}, "dropped")
	if es := b.Entries(); es[2].Message != "h" {
		t.Fatalf("memory-stop-on-full kept logging: %+v", es)
	}
}

func TestDiskAction(t *testing.T) {
	dir := t.TempDir()
	b := New(10)
	c := DefaultConfig()
	c.Actions = append(c.Actions, Action{Name: "d", Target: "disk", DiskFile: filepath.Join(dir, "files", "fw"), DiskLines: 2, DiskCount: 2})
	c.Rules = append(c.Rules, ParseRule("firewall", "d", ""))
	if errs := b.SetConfig(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, m := range []string{"one", "two", "three", "four", "five"} {
		b.Log([]string{"firewall", "info"}, m)
	}
	b.Log([]string{"system", "info"}, "not-on-disk")
	read := func(n string) string {
		s, _ := os.ReadFile(filepath.Join(dir, "files", n))
		return string(s)
	}
	if s := read("fw.0.txt"); !strings.HasSuffix(s, "firewall,info five\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("fw.0.txt: %q", s)
	}
	if s := read("fw.1.txt"); !strings.Contains(s, "three") || !strings.Contains(s, "four") || strings.Contains(s, "one") {
		t.Errorf("fw.1.txt: %q", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", "fw.2.txt")); err == nil {
		t.Error("disk-file-count=2 left a third file")
	}
	// A new configuration continues the file it finds.
	b.SetConfig(c)
	b.Log([]string{"firewall", "info"}, "six")
	if s := read("fw.0.txt"); strings.Count(s, "\n") != 2 {
		t.Errorf("after reconfiguring: %q", s)
	}
	if p, _ := diskPath(dir, "../../etc/passwd"); !strings.HasPrefix(p, filepath.Join(dir, "files")+"/") {
		t.Errorf("disk-file-name escapes the file store: %s", p)
	}
}

func TestRemoteAction(t *testing.T) {
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := New(10)
	b.Now = func() time.Time { return time.Date(2026, 12, 1, 9, 5, 7, 0, time.Local) }
	c := DefaultConfig()
	c.Host = "edge 1"
	c.Actions = append(c.Actions, Action{Name: "r", Target: "remote", Remote: ln.LocalAddr().(*net.UDPAddr).AddrPort(),
		Src: netip.MustParseAddr("0.0.0.0"), BSD: true, Facility: 3, Severity: "auto", TimeFormat: "bsd-syslog"})
	c.Rules = append(c.Rules, ParseRule("ipsec,!debug", "r", "vpn"))
	if errs := b.SetConfig(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	b.Log([]string{"ipsec", "debug"}, "not sent")
	b.Log([]string{"ipsec", "error"}, "phase1 negotiation failed")
	buf := make([]byte, 2048)
	ln.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := ln.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(buf[:n]), "<27>Dec  1 09:05:07 edge_1 ipsec,error vpn phase1 negotiation failed"; got != want {
		t.Errorf("datagram %q, want %q", got, want)
	}
}

// remote-log-format=syslog and cef, as RouterOS 7 sends them: syslog without topics,
// CEF after a time stamp and the host name with the delimiter at the end.
func TestRemoteLogFormats(t *testing.T) {
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		format, want string
	}{
		{"syslog", "<27>Dec  1 09:05:07 edge_1 phase1 negotiation failed"},
		{"cef", "Dec  1 09:05:07 edge_1 CEF:0|MikroTik|routerd|" + cefHeader(control.Version) +
			"|28|ipsec,error|High|dvchost=edge_1 dvc=127.0.0.1 msg=phase1 a\\=b failed\r\n"},
		{"default", "<27>ipsec,error phase1 negotiation failed"},
	} {
		b := New(10)
		b.Now = func() time.Time { return time.Date(2026, 12, 1, 9, 5, 7, 0, time.Local) }
		cfg := DefaultConfig()
		cfg.Host = "edge 1"
		cfg.Actions = append(cfg.Actions, Action{Name: "r", Target: "remote", Remote: ln.LocalAddr().(*net.UDPAddr).AddrPort(),
			Format: c.format, CEFDelim: "\r\n", Facility: 3, Severity: "auto", TimeFormat: "bsd-syslog"})
		cfg.Rules = append(cfg.Rules, ParseRule("ipsec", "r", ""))
		if errs := b.SetConfig(cfg); len(errs) != 0 {
			t.Fatal(errs)
		}
		msg := "phase1 negotiation failed"
		if c.format == "cef" {
			msg = "phase1 a=b failed"
		}
		b.Log([]string{"ipsec", "error"}, msg)
		buf := make([]byte, 2048)
		ln.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := ln.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != c.want {
			t.Errorf("%s: datagram %q, want %q", c.format, got, c.want)
		}
		b.SetConfig(DefaultConfig())
	}
}

// remote-protocol=tcp: one line per entry on one connection, re-dialled after the server
// closed it; entries logged while it was away are delivered.
func TestRemoteTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	old := tcpRetry
	tcpRetry = 50 * time.Millisecond
	defer func() { tcpRetry = old }()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := New(10)
	cfg := DefaultConfig()
	cfg.Go = func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	cfg.Actions = append(cfg.Actions, Action{Name: "r", Target: "remote", TCP: true,
		Remote: ln.Addr().(*net.TCPAddr).AddrPort(), Format: "default", Facility: 3, Severity: "auto"})
	cfg.Rules = append(cfg.Rules, ParseRule("script", "r", ""))
	if errs := b.SetConfig(cfg); len(errs) != 0 {
		t.Fatal(errs)
	}
	b.Log([]string{"script", "info"}, "one")
	b.Log([]string{"script", "info"}, "two")
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"<30>script,info one\n", "<30>script,info two\n"} {
		if got, err := r.ReadString('\n'); got != want {
			t.Fatalf("line %q (%v), want %q", got, err, want)
		}
	}
	c.Close()
	// The sender finds the connection closed on a write and dials again.
	for i := 0; ; i++ {
		b.Log([]string{"script", "info"}, "again")
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
		if c2, err := ln.Accept(); err == nil {
			c2.SetReadDeadline(time.Now().Add(10 * time.Second))
			if got, _ := bufio.NewReader(c2).ReadString('\n'); got != "<30>script,info again\n" {
				t.Errorf("after reconnect %q", got)
			}
			c2.Close()
			break
		}
		if i > 100 {
			t.Fatal("no new connection")
		}
	}
	b.SetConfig(DefaultConfig())
}

// A rule's regex: only messages matching it are logged; an invalid one is refused.
func TestRuleRegex(t *testing.T) {
	b := New(10)
	cfg := DefaultConfig()
	cfg.Rules = nil
	r := ParseRule("info", "memory", "")
	if err := r.SetRegex("^login (failure|success)"); err != nil {
		t.Fatal(err)
	}
	cfg.Rules = append(cfg.Rules, r)
	b.SetConfig(cfg)
	b.Log([]string{"system", "info"}, "login failure for user admin")
	b.Log([]string{"system", "info"}, "user admin logged out")
	es := b.Entries()
	if len(es) != 1 || es[0].Message != "login failure for user admin" {
		t.Errorf("entries %+v, want the login failure only", es)
	}
	if err := r.SetRegex("(unclosed"); err == nil {
		t.Error("invalid regex accepted")
	}
}
