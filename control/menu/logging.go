package menu

import (
	"github.com/routerd/routerd/control/value"
)

// LogTopics are the topics of RouterOS's Log manual that a /system logging rule may name,
// each also negated with "!" (topics=ipsec,!debug). A rule matches an entry that has every
// topic the rule names and none of those it negates.
var LogTopics = []string{
	"account", "backup", "bfd", "bgp", "bridge", "calc", "caps", "certificate", "container",
	"critical", "ddns", "debug", "dhcp", "dns", "dot1x", "dude", "e-mail", "error", "event",
	"fetch", "firewall", "gsm", "health", "hotspot", "igmp-proxy", "info", "interface",
	"ipsec", "iscsi", "isdn", "l2tp", "ldp", "lte", "manager", "mme", "mpls", "natpmp",
	"netinstall", "ntp", "ospf", "ovpn", "packet", "pim", "poe-out", "ppp", "pppoe", "pptp",
	"ptp", "queue", "radius", "radvd", "raw", "read", "rip", "route", "rpki", "rsvp",
	"script", "sertcp", "smb", "snmp", "ssh", "sstp", "state", "store", "system",
	"telephony", "tftp", "timer", "tr069", "update", "upnp", "ups", "vrrp", "warning",
	"watchdog", "web-proxy", "wireguard", "wireless", "write",
}

// topicsType is a comma list of LogTopics, each possibly negated; its name stays short
// for help (the words are there for completion).
type topicsType struct{ value.Type }

func (topicsType) Name() string { return "list of topic | !topic (info, error, ipsec, debug ...)" }

func (t topicsType) Values() []string { return t.Type.(value.Lister).Values() }

var topicsList value.Type = func() value.Type {
	words := make([]string, 0, 2*len(LogTopics))
	words = append(words, LogTopics...)
	for _, t := range LogTopics {
		words = append(words, "!"+t)
	}
	return topicsType{value.EnumList(words...)}
}()

func logTopicsType() value.Type { return topicsList }

// EmailActionNoEffect is why a logging action with target=email does nothing here.
const EmailActionNoEffect = "log entries are not e-mailed here"

// loggingMenus declares (actions first: rules name them) /system logging (rules: which topics go to which action) and
// /system logging action (where they go), after RouterOS's Log manual page. The default
// rules and actions are RouterOS's: info, error and warning to memory, critical to echo.
func loggingMenus() []*Menu {
	return []*Menu{
		{
			Path: LoggingActionPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Required: true, Unique: true, Desc: "Name of the action."},
				{Name: "target", Type: value.Enum("disk", "echo", "email", "memory", "remote"), Default: "memory",
					Desc: "Where entries go: memory (/log), disk (files in the file store), echo (routerd's standard error), remote (a syslog server)."},
				{Name: "add-topics-string", Type: value.Bool(), Default: "no",
					NoEffect: "remote messages carry their topics as routerd writes them",
					Desc:     "Prefix remote messages with their topics."},
				{Name: "vrf", Type: value.String(), Default: "main",
					NoEffect: "no VRFs here: remote messages leave through the main table",
					Desc:     "VRF the remote target is reached through."},
				{Name: "memory-lines", Type: value.Int(1, 65535), Default: "1000",
					Desc: "Number of entries /log keeps (target=memory)."},
				{Name: "memory-stop-on-full", Type: value.Bool(), Default: "no",
					Desc: "Stop logging once memory-lines entries are held (target=memory)."},
				{Name: "disk-file-name", Type: value.String(), Default: "log",
					Desc: "Name of the log files in the file store: NAME.0.txt is written, NAME.1.txt ... older (target=disk)."},
				{Name: "disk-lines-per-file", Type: value.Int(1, 65535), Default: "1000",
					Desc: "Lines per log file (target=disk)."},
				{Name: "disk-file-count", Type: value.Int(1, 65535), Default: "2",
					Desc: "Number of log files kept (target=disk)."},
				{Name: "disk-stop-on-full", Type: value.Bool(), Default: "no",
					Desc: "Stop logging once every file is full (target=disk)."},
				{Name: "remember", Type: value.Bool(), Default: "yes",
					Desc:     "Keep echoed entries for consoles that log in later (target=echo).",
					NoEffect: "echo writes to routerd's standard error, which the journal keeps"},
				{Name: "remote", Type: value.OneOf(value.IP(), HostName{}), Default: "0.0.0.0",
					Desc: "Address or host name of the syslog server (target=remote); a name is resolved through /ip dns, again when its record's TTL runs out (5s to 1d) and at once when /ip dns changes."},
				{Name: "actual-remote", Type: value.IP(), ReadOnly: true,
					Desc: "Address in use when remote is a host name."},
				{Name: "remote-port", Type: value.Int(0, 65535), Default: "514",
					Desc: "UDP port of the syslog server (target=remote)."},
				{Name: "src-address", Type: value.IP(), Default: "0.0.0.0",
					Desc: "Source address of the syslog datagrams (target=remote)."},
				{Name: "remote-protocol", Type: value.Enum("udp", "tcp"), Default: "udp",
					Desc: "Transport to the syslog server: one datagram per entry, or a TCP connection with one entry per line (RFC 6587 non-transparent framing), re-opened when it fails (target=remote)."},
				{Name: "remote-log-format", Type: value.Enum("default", "syslog", "cef"), Default: "default",
					Desc: "Message format: default (\"<PRI>topics message\"), syslog (RFC 3164: priority, time stamp, host name, message), cef (ArcSight Common Event Format after a time stamp and the host name) (target=remote)."},
				{Name: "cef-event-delimiter", Type: value.String(), Default: "\r\n",
					Desc: "Bytes that end each CEF event, so that a server can split a batch (remote-log-format=cef)."},
				{Name: "bsd-syslog", Type: value.Bool(), Default: "no",
					Desc: "Send RFC 3164 messages with priority, time stamp and host name (target=remote; RouterOS 6's switch, remote-log-format=syslog in RouterOS 7)."},
				{Name: "syslog-facility", Type: value.Enum("kern", "user", "mail", "daemon", "auth", "syslog", "lpr",
					"news", "uucp", "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4",
					"local5", "local6", "local7"), Default: "daemon",
					Desc: "Facility of bsd-syslog messages (target=remote)."},
				{Name: "syslog-severity", Type: value.Enum("auto", "emergency", "alert", "critical", "error",
					"warning", "notice", "info", "debug"), Default: "auto",
					Desc: "Severity of bsd-syslog messages; auto takes it from the entry's topics (target=remote)."},
				{Name: "syslog-time-format", Type: value.Enum("bsd-syslog", "iso8601"), Default: "bsd-syslog",
					Desc: "Time stamp format of bsd-syslog messages (target=remote)."},
				// target=email: RouterOS mails each entry through /tool e-mail. An action of
				// that target is kept and exported, and shows invalid with the reason.
				{Name: "email-to", Type: value.String(), NoEffect: EmailActionNoEffect,
					Desc: "Address the entries are mailed to (target=email)."},
				{Name: "email-start-tls", Type: value.Bool(), Default: "no", NoEffect: EmailActionNoEffect,
					Desc: "Use STARTTLS towards the mail server (target=email)."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the action."},
			},
			Flags:   []Flag{FlagInvalid, {'*', "default"}},
			Columns: []string{"name", "target"},
			Builtin: []map[string]string{
				{"name": "memory", "target": "memory"},
				{"name": "disk", "target": "disk"},
				{"name": "echo", "target": "echo"},
				{"name": "remote", "target": "remote"},
			},
			Desc: "Where log entries go: memory, disk files, echo, a remote syslog server.",
		},
		{
			Path: LoggingPath,
			Kind: List,
			Props: []Prop{
				{Name: "topics", Type: logTopicsType(), Default: "info",
					Desc: "Topics an entry must all have to match (!topic: must not have it)."},
				{Name: "action", Type: value.String(), Ref: LoggingActionPath, Default: "memory",
					Desc: "Logging action (/system logging action) that matching entries go to."},
				{Name: "prefix", Type: value.String(),
					Desc: "Text put before the message of the entries this rule logs."},
				{Name: "regex", Type: value.String(),
					Desc: "POSIX regular expression the message must match for the rule to log it (empty: every message)."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the rule."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the rule is disabled."},
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid, {'*', "default"}},
			Columns: []string{"topics", "action", "prefix"},
			Builtin: []map[string]string{
				{"topics": "info", "action": "memory"},
				{"topics": "error", "action": "memory"},
				{"topics": "warning", "action": "memory"},
				{"topics": "critical", "action": "echo"},
			},
			Desc: "Rules that send log entries of given topics to logging actions.",
		},
	}
}
