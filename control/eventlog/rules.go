package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
)

// Rule is one /system logging rule: entries that have every topic of Topics and none of
// Not (and, with Regex, whose message matches it) go to the action named Action, their
// message led by Prefix.
type Rule struct {
	Topics []string
	Not    []string
	Prefix string
	Action string
	// Regex is the rule's regex as written; Re is it compiled (nil: every message).
	Regex string
	Re    *regexp.Regexp `json:"-"`
}

// SetRegex compiles expr (POSIX, as RouterOS's regex) into the rule; "" matches every
// message.
func (r *Rule) SetRegex(expr string) error {
	r.Regex, r.Re = expr, nil
	if expr == "" {
		return nil
	}
	re, err := regexp.CompilePOSIX(expr)
	if err != nil {
		return fmt.Errorf("invalid regex: %w", err)
	}
	r.Re = re
	return nil
}

// ParseRule splits a topics list as /system logging writes it ("ipsec,!debug").
func ParseRule(topics, action, prefix string) Rule {
	r := Rule{Action: action, Prefix: prefix}
	for _, t := range strings.Split(topics, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if n, ok := strings.CutPrefix(t, "!"); ok {
			r.Not = append(r.Not, n)
		} else {
			r.Topics = append(r.Topics, t)
		}
	}
	return r
}

// Match reports whether an entry with these topics is logged by the rule. A rule whose
// topics are all negated matches every entry without them.
func (r Rule) Match(topics []string) bool {
	for _, t := range r.Topics {
		if !slices.Contains(topics, t) {
			return false
		}
	}
	for _, t := range r.Not {
		if slices.Contains(topics, t) {
			return false
		}
	}
	return true
}

// wantsDebug reports whether the rule can match a debug entry (topics X,debug): it does
// unless it needs another level word or excludes debug.
func (r Rule) wantsDebug() bool {
	for _, t := range r.Topics {
		switch t {
		case "info", "warning", "error", "critical":
			return false
		}
	}
	return !slices.Contains(r.Not, "debug")
}

// Action is one /system logging action: where matching entries go.
type Action struct {
	Name   string
	Target string // memory, disk, echo, remote

	MemoryLines      int
	MemoryStopOnFull bool

	// DiskFile is the path of the log files without ".N.txt".
	DiskFile       string
	DiskLines      int
	DiskCount      int
	DiskStopOnFull bool

	Remote     netip.AddrPort
	Src        netip.Addr
	TCP        bool   // remote-protocol=tcp
	Format     string // remote-log-format: default, syslog or cef
	CEFDelim   string // cef-event-delimiter
	BSD        bool
	Facility   int    // syslog facility number (daemon = 3)
	Severity   string // auto, or a fixed severity name
	TimeFormat string // bsd-syslog or iso8601
}

// Config is what /system logging and its actions say.
type Config struct {
	Rules   []Rule
	Actions []Action
	// Host is the name bsd-syslog messages carry (the router's identity).
	Host string
	// Go runs a sink's sender (a TCP action's) in a goroutine its owner joins; the
	// engine gives its Handle's. Without it a TCP action cannot work.
	Go func(fn func(ctx context.Context)) `json:"-"`
}

// DefaultConfig is RouterOS's: info, error and warning to memory, critical to echo.
func DefaultConfig() Config {
	return Config{
		Rules: []Rule{
			{Topics: []string{"info"}, Action: "memory"},
			{Topics: []string{"error"}, Action: "memory"},
			{Topics: []string{"warning"}, Action: "memory"},
			{Topics: []string{"critical"}, Action: "echo"},
		},
		Actions: []Action{
			{Name: "memory", Target: "memory", MemoryLines: DefaultSize},
			{Name: "echo", Target: "echo"},
		},
	}
}

// router is a Config compiled: each rule with its sink.
type router struct {
	rules     []Rule
	sinks     map[string]sink
	wantDebug bool
}

type sink interface {
	write(e Entry)
	close()
}

// SetConfig makes c the routing of entries from now on; sinks of the previous
// configuration are closed. Problems with an action (an unreachable syslog server's
// address, a disk file that cannot be opened) are returned per action name; such an
// action drops its entries until the next SetConfig.
func (b *Buffer) SetConfig(c Config) map[string]error {
	errs := map[string]error{}
	r := &router{sinks: map[string]sink{}}
	memLines := 0
	stop := false
	for _, a := range c.Actions {
		switch a.Target {
		case "memory":
			if memLines == 0 {
				memLines, stop = a.MemoryLines, a.MemoryStopOnFull
			}
			r.sinks[a.Name] = memorySink{b}
		case "echo":
			r.sinks[a.Name] = echoSink{b}
		case "disk":
			s, err := newDiskSink(a)
			if err != nil {
				errs[a.Name] = err
				continue
			}
			r.sinks[a.Name] = s
		case "remote":
			s, err := newRemoteSink(a, c.Host, c.Go)
			if err != nil {
				errs[a.Name] = err
				continue
			}
			r.sinks[a.Name] = s
		}
	}
	for _, rule := range c.Rules {
		if rule.Re == nil && rule.Regex != "" {
			if err := rule.SetRegex(rule.Regex); err != nil {
				continue // the engine marks the rule invalid
			}
		}
		r.rules = append(r.rules, rule)
		if _, ok := r.sinks[rule.Action]; ok && rule.wantsDebug() {
			r.wantDebug = true
		}
	}
	if memLines > 0 {
		b.resize(memLines, stop)
	}
	b.mu.Lock()
	old := b.route
	b.route = r
	b.wantDebug.Store(r.wantDebug)
	b.mu.Unlock()
	if old != nil {
		for _, s := range old.sinks {
			s.close()
		}
	}
	return errs
}

// WantsDebug reports whether some rule logs debug entries, so that the handler asks for
// debug records only then.
func (b *Buffer) WantsDebug() bool { return b.wantDebug.Load() }

// Log routes one entry through the rules: to every action of a matching rule, once per
// action, with that rule's prefix.
func (b *Buffer) Log(topics []string, msg string) {
	b.mu.Lock()
	r := b.route
	b.mu.Unlock()
	e := Entry{Time: b.Now(), Topics: append([]string(nil), topics...)}
	var done []string
	for _, rule := range r.rules {
		if !rule.Match(topics) || slices.Contains(done, rule.Action) {
			continue
		}
		if rule.Re != nil && !rule.Re.MatchString(msg) {
			continue
		}
		s, ok := r.sinks[rule.Action]
		if !ok {
			continue
		}
		done = append(done, rule.Action)
		e.Message = msg
		if rule.Prefix != "" {
			e.Message = rule.Prefix + " " + msg
		}
		s.write(e)
	}
}

// defaultRouter is DefaultConfig's routing, for a buffer not configured yet.
func defaultRouter(b *Buffer) *router {
	return &router{rules: DefaultConfig().Rules, sinks: map[string]sink{"memory": memorySink{b}, "echo": echoSink{b}}}
}

type memorySink struct{ b *Buffer }

func (s memorySink) write(e Entry) { s.b.Add(e.Topics, e.Message) }
func (memorySink) close()          {}

type echoSink struct{ b *Buffer }

func (s echoSink) write(e Entry) {
	w := s.b.Echo
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "%s %s %s\n", e.Time.Local().Format("15:04:05"), strings.Join(e.Topics, ","), control.Printable(e.Message))
}
func (echoSink) close() {}

// diskSink appends lines to NAME.0.txt; when that file holds DiskLines lines, NAME.N.txt
// become NAME.N+1.txt (the oldest beyond DiskCount removed) and NAME.0.txt starts anew.
type diskSink struct {
	mu    sync.Mutex
	a     Action
	f     *os.File
	lines int
	full  bool
}

func (a Action) diskPath(n int) string { return fmt.Sprintf("%s.%d.txt", a.DiskFile, n) }

func newDiskSink(a Action) (*diskSink, error) {
	if a.DiskLines <= 0 {
		a.DiskLines = 1000
	}
	if a.DiskCount <= 0 {
		a.DiskCount = 2
	}
	if err := os.MkdirAll(filepath.Dir(a.DiskFile), 0o700); err != nil {
		return nil, fmt.Errorf("disk-file-name: %w", err)
	}
	// The file is made by the first entry, so an unused disk action leaves none.
	return &diskSink{a: a}, nil
}

func (s *diskSink) open() error {
	f, err := os.OpenFile(s.a.diskPath(0), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("disk-file-name: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		n++
	}
	s.f, s.lines = f, n
	return nil
}

func (s *diskSink) write(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return
		}
	}
	if s.lines >= s.a.DiskLines {
		if s.a.DiskStopOnFull {
			if _, err := os.Stat(s.a.diskPath(s.a.DiskCount - 1)); err == nil || s.a.DiskCount == 1 {
				s.full = true
				return
			}
		}
		s.f.Close()
		s.f = nil
		os.Remove(s.a.diskPath(s.a.DiskCount - 1))
		for n := s.a.DiskCount - 2; n >= 0; n-- {
			os.Rename(s.a.diskPath(n), s.a.diskPath(n+1))
		}
		if err := s.open(); err != nil {
			return
		}
	}
	line := fmt.Sprintf("%s %s %s\n", e.Time.Local().Format("2006-01-02 15:04:05"), strings.Join(e.Topics, ","), control.Printable(e.Message))
	if _, err := io.WriteString(s.f, line); err == nil {
		s.lines++
	}
}

func (s *diskSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// remoteSink sends each entry to a syslog server: one UDP datagram per entry, or (tcp)
// one line per entry on a connection its sender goroutine keeps open.
type remoteSink struct {
	a    Action
	host string
	src  string // the source address CEF's dvc names
	c    *net.UDPConn
	tcp  *tcpSender
}

func newRemoteSink(a Action, host string, spawn func(func(context.Context))) (*remoteSink, error) {
	if !a.Remote.Addr().IsValid() || a.Remote.Addr().IsUnspecified() {
		return nil, fmt.Errorf("remote address not set")
	}
	if host == "" {
		host = "MikroTik"
	}
	s := &remoteSink{a: a, host: strings.ReplaceAll(host, " ", "_")}
	var laddr *net.UDPAddr
	if a.Src.IsValid() && !a.Src.IsUnspecified() {
		laddr = &net.UDPAddr{IP: a.Src.AsSlice()}
	}
	if a.TCP {
		if spawn == nil {
			return nil, fmt.Errorf("remote-protocol=tcp: no sender")
		}
		s.tcp = newTCPSender(a, spawn)
		if laddr != nil {
			s.src = a.Src.String()
		}
		return s, nil
	}
	c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(a.Remote))
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	s.c = c
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok {
		s.src = la.IP.String()
	}
	return s, nil
}

// severities are syslog's severity numbers by RouterOS's names.
var severities = map[string]int{"emergency": 0, "alert": 1, "critical": 2, "error": 3,
	"warning": 4, "notice": 5, "info": 6, "debug": 7}

// severity is the entry's syslog severity: fixed, or (auto) from its level topic.
func (s *remoteSink) severity(topics []string) int {
	if n, ok := severities[s.a.Severity]; ok {
		return n
	}
	for _, t := range []string{"error", "warning", "info", "debug", "critical"} {
		if slices.Contains(topics, t) {
			return severities[t]
		}
	}
	return severities["info"]
}

// stamp is the message's time stamp in syslog-time-format.
func (s *remoteSink) stamp(t time.Time) string {
	if s.a.TimeFormat == "iso8601" {
		return t.Local().Format("2006-01-02T15:04:05.000-0700")
	}
	return t.Local().Format(time.Stamp)
}

// format is the entry in remote-log-format:
//   - default: "<PRI>topics message"; with RouterOS 6's bsd-syslog=yes the RFC 3164
//     header "<PRI>Mmm dd hh:mm:ss host " before the topics;
//   - syslog: RFC 3164, "<PRI>Mmm dd hh:mm:ss host message" (no topics: RouterOS 7
//     sends none in this format);
//   - cef: "Mmm dd hh:mm:ss host CEF:0|MikroTik|product|version|id|topics|severity|
//     dvchost=host dvc=source msg=message" and cef-event-delimiter.
func (s *remoteSink) format(e Entry) []byte {
	var b bytes.Buffer
	msg := control.Printable(e.Message)
	topics := strings.Join(e.Topics, ",")
	pri := fmt.Sprintf("<%d>", s.a.Facility*8+s.severity(e.Topics))
	switch s.a.Format {
	case "syslog":
		b.WriteString(pri + s.stamp(e.Time) + " " + s.host + " " + msg)
	case "cef":
		fmt.Fprintf(&b, "%s %s CEF:0|MikroTik|routerd|%s|%d|%s|%s|dvchost=%s dvc=%s msg=%s%s",
			s.stamp(e.Time), s.host, cefHeader(control.Version), cefSignature(e.Topics), cefHeader(topics),
			cefSeverity(e.Topics), cefValue(s.host), cefValue(s.src), cefValue(msg), s.a.CEFDelim)
	default:
		b.WriteString(pri)
		if s.a.BSD {
			b.WriteString(s.stamp(e.Time) + " " + s.host + " ")
		}
		b.WriteString(topics + " " + msg)
	}
	return b.Bytes()
}

// cefHeader escapes a CEF header field: backslash and pipe.
func cefHeader(v string) string {
	return strings.NewReplacer(`\`, `\\`, "|", `\|`).Replace(v)
}

// cefValue escapes a CEF extension value: backslash, equals sign and line breaks.
func cefValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, "=", `\=`, "\r", `\r`, "\n", `\n`).Replace(v)
}

// cefSeverity is CEF's severity word from the entry's level topic, as RouterOS writes it.
func cefSeverity(topics []string) string {
	switch {
	case slices.Contains(topics, "critical"), slices.Contains(topics, "error"):
		return "High"
	case slices.Contains(topics, "warning"):
		return "Medium"
	}
	return "Low"
}

// cefSignature is the event class id: the place of the entry's first topic in
// RouterOS's topic list (RouterOS numbers its topics its own way, which its manual does
// not give; a server should key on the topics field).
func cefSignature(topics []string) int {
	if len(topics) > 0 {
		if i := slices.Index(cefTopicIDs, topics[0]); i >= 0 {
			return i + 1
		}
	}
	return 0
}

// cefTopicIDs numbers the topics CEF's signature id takes.
var cefTopicIDs = []string{"account", "backup", "bfd", "bgp", "bridge", "calc", "caps", "certificate",
	"container", "critical", "ddns", "debug", "dhcp", "dns", "dot1x", "dude", "e-mail", "error", "event",
	"fetch", "firewall", "gsm", "health", "hotspot", "igmp-proxy", "info", "interface", "ipsec", "iscsi",
	"isdn", "l2tp", "ldp", "lte", "manager", "mme", "mpls", "natpmp", "netinstall", "ntp", "ospf", "ovpn",
	"packet", "pim", "poe-out", "ppp", "pppoe", "pptp", "ptp", "queue", "radius", "radvd", "raw", "read",
	"rip", "route", "rpki", "rsvp", "script", "sertcp", "smb", "snmp", "ssh", "sstp", "state", "store",
	"system", "telephony", "tftp", "timer", "tr069", "update", "upnp", "ups", "vrrp", "warning",
	"watchdog", "web-proxy", "wireguard", "wireless", "write"}

func (s *remoteSink) write(e Entry) {
	if s.tcp != nil {
		s.tcp.send(s.frame(s.format(e)))
		return
	}
	s.c.Write(s.format(e))
}

// frame ends a TCP message: CEF events with their delimiter already, the others with a
// line feed (RFC 6587 non-transparent framing).
func (s *remoteSink) frame(m []byte) []byte {
	if s.a.Format == "cef" && s.a.CEFDelim != "" {
		return m
	}
	return append(m, '\n')
}

func (s *remoteSink) close() {
	if s.tcp != nil {
		s.tcp.close()
		return
	}
	s.c.Close()
}

// tcpSender keeps one TCP connection to the server and writes the queued messages to it;
// a failed connection is dialled again after a pause, messages queued meanwhile wait (the
// oldest dropped beyond tcpQueue), so that logging never blocks on the server.
type tcpSender struct {
	a    Action
	q    chan []byte
	done chan struct{}
	once sync.Once
}

// tcpQueue is how many messages wait for the TCP connection.
const tcpQueue = 1024

// tcpRetry is the pause before dialling a server that failed again.
var tcpRetry = 2 * time.Second

func newTCPSender(a Action, spawn func(func(context.Context))) *tcpSender {
	t := &tcpSender{a: a, q: make(chan []byte, tcpQueue), done: make(chan struct{})}
	spawn(t.run)
	return t
}

func (t *tcpSender) send(m []byte) {
	for {
		select {
		case t.q <- m:
			return
		default:
		}
		select { // full: drop the oldest
		case <-t.q:
		default:
		}
	}
}

func (t *tcpSender) close() { t.once.Do(func() { close(t.done) }) }

func (t *tcpSender) run(ctx context.Context) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	if t.a.Src.IsValid() && !t.a.Src.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: t.a.Src.AsSlice()}
	}
	for {
		var m []byte
		select {
		case <-ctx.Done():
			return
		case <-t.done:
			return
		case m = <-t.q:
		}
		for conn == nil {
			c, err := d.DialContext(ctx, "tcp", t.a.Remote.String())
			if err == nil {
				conn = c
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-t.done:
				return
			case <-time.After(tcpRetry):
			}
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(m); err != nil {
			conn.Close()
			conn = nil
		}
	}
}
