package menu

import (
	"math"

	"github.com/routerd/routerd/control/value"
)

// radiusServices are the router services /radius service= names (RouterOS 7).
var radiusServices = []string{"ppp", "login", "hotspot", "wireless", "dhcp", "ipsec", "dot1x"}

// UMOuterAuths and UMInnerAuths are User Manager's authentication methods (outer: the
// RADIUS request itself; inner: inside an EAP-TTLS or EAP-PEAP tunnel).
var (
	UMOuterAuths = []string{"pap", "chap", "mschap1", "mschap2", "eap-tls", "eap-ttls", "eap-peap", "eap-mschap2"}
	UMInnerAuths = []string{"ttls-pap", "ttls-chap", "ttls-mschap1", "ttls-mschap2", "peap-mschap2"}
)

// radiusMenus declares the RADIUS client (/radius, after the RouterOS manual's RADIUS page
// and the terraform-routeros property list) and User Manager, RouterOS 7's RADIUS server
// (/user-manager with its router, user, user group, session and accounting menus).
func radiusMenus() []*Menu {
	port := value.Int(0, 65535)
	ro := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.String(), ReadOnly: true, Desc: desc}
	}
	count := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: desc}
	}
	return []*Menu{
		{
			Path: RadiusPath,
			Kind: List,
			Props: []Prop{
				{Name: "accounting-backup", Type: value.Bool(), Default: "no",
					Desc: "Whether this server is the backup accounting server."},
				{Name: "accounting-port", Type: port, Default: "1813",
					Desc: "RADIUS server port used for accounting."},
				{Name: "address", Type: value.IP(), Required: true,
					Desc: "IPv4 or IPv6 address of the RADIUS server."},
				{Name: "authentication-port", Type: port, Default: "1812",
					Desc: "RADIUS server port used for authentication."},
				{Name: "called-id", Type: value.String(),
					Desc: "Called-Station-Id sent to the server; empty: the service's default."},
				{Name: "certificate", Type: value.String(), Default: "none",
					NoEffect: "RadSec is not implemented; protocol=udp only",
					Desc:     "Certificate for RadSec."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the server."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the server is used."},
				{Name: "domain", Type: value.String(),
					Desc: "Microsoft Windows domain passed to servers that need it (NAS-Identifier is not changed)."},
				{Name: "protocol", Type: value.Enum("udp", "radsec"), Default: "udp",
					Desc: "Transport to the server; radsec is refused with a status."},
				{Name: "realm", Type: value.String(),
					Desc: "Realm appended to user names (user@realm) sent to this server."},
				// RouterOS 7.15's words (yes-for-request-resp, no); routerd's own earlier
				// yes is taken as the first.
				{Name: "require-message-auth", Type: msgAuth{value.Enum("no", "yes-for-request-resp")}, Default: "yes-for-request-resp",
					Desc: "Whether Access-Accept, -Reject and -Challenge replies without Message-Authenticator are refused (BlastRADIUS)."},
				{Name: "secret", Type: value.String(), Sensitive: true,
					Desc: "Shared secret of the RADIUS server."},
				{Name: "service", Type: value.EnumList(radiusServices...),
					Desc: "Router services that use this server."},
				{Name: "src-address", Type: value.IP(), Default: "0.0.0.0",
					Desc: "Source address of the packets sent to the server; 0.0.0.0: chosen by routing."},
				{Name: "timeout", Type: value.Time(0, 30*60*1e9), Default: "300ms",
					Desc: "Time after which a request is sent again (three tries per server, then the next server)."},
				{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "The server cannot be used."},
				count("requests", "Access-Requests sent (first tries)."),
				count("accepts", "Access-Accepts received."),
				count("rejects", "Access-Rejects received."),
				count("challenges", "Access-Challenges received."),
				count("resends", "Requests sent again after a timeout."),
				count("timeouts", "Requests that got no answer from this server."),
				count("bad-replies", "Replies refused: bad authenticator or Message-Authenticator."),
				count("acct-requests", "Accounting-Requests sent."),
				count("acct-responses", "Accounting-Responses received."),
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid},
			Ordered: true,
			Columns: []string{"service", "address", "secret", "protocol"},
			Stats:   []string{"requests", "accepts", "rejects", "challenges", "resends", "timeouts", "bad-replies", "acct-requests", "acct-responses"},
			Desc:    "RADIUS servers the router's services ask, in order.",
		},
		{
			Path: RadiusIncomingPath,
			Kind: Single,
			Props: []Prop{
				{Name: "accept", Type: value.Bool(), Default: "no",
					NoEffect: "CoA and Disconnect-Request are not implemented",
					Desc:     "Accept unsolicited Disconnect and CoA requests."},
				{Name: "port", Type: port, Default: "3799", Desc: "Port unsolicited requests arrive on."},
				{Name: "vrf", Type: value.String(), Default: "main", Desc: "VRF the listener runs in."},
			},
			Desc: "Unsolicited RADIUS messages (RFC 3576).",
		},
		{
			Path: UserManagerPath,
			Kind: Single,
			Props: []Prop{
				{Name: "accounting-port", Type: value.Int(1, 65535), Default: "1813",
					Desc: "Port User Manager takes accounting requests on."},
				{Name: "authentication-port", Type: value.Int(1, 65535), Default: "1812",
					Desc: "Port User Manager takes authentication requests on."},
				{Name: "certificate", Type: value.String(), Default: "none",
					Desc: "Certificate for EAP methods with TLS (EAP-TLS, EAP-TTLS, EAP-PEAP)."},
				{Name: "enabled", Type: value.Bool(), Default: "no", Desc: "Whether User Manager runs."},
				{Name: "require-message-auth", Type: value.Enum("no", "yes-for-request-resp"), Default: "yes-for-request-resp",
					Desc: "Require Message-Authenticator in Access-Requests (always checked when present)."},
				{Name: "use-profiles", Type: value.Bool(), Default: "no",
					NoEffect: "profiles and limitations are not implemented",
					Desc:     "Use profiles and limitations."},
			},
			Desc: "User Manager: the router's own RADIUS server.",
		},
		{
			Path: UserManagerRouterPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Required: true, Unique: true, Desc: "Name of the RADIUS client."},
				{Name: "address", Type: value.IP(), Required: true, Desc: "Address the client's requests come from."},
				{Name: "coa-port", Type: port, Default: "3799",
					NoEffect: "CoA is not implemented", Desc: "Port of the client's CoA listener."},
				{Name: "comment", Type: value.String(), Desc: "Short description."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether requests from the client are ignored."},
				{Name: "shared-secret", Type: value.String(), Sensitive: true, Desc: "Secret shared with the client."},
			},
			Flags:   []Flag{FlagDisabled},
			Columns: []string{"name", "address", "shared-secret"},
			Desc:    "RADIUS clients (NAS) allowed to ask User Manager.",
		},
		{
			Path: UserManagerGroupPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Required: true, Unique: true, Desc: "Name of the group."},
				{Name: "attributes", Type: value.List(value.String()),
					Desc: "Attributes (Name:value) added to Access-Accepts of the group's users."},
				{Name: "comment", Type: value.String(), Desc: "Short description."},
				{Name: "inner-auths", Type: value.EnumList(UMInnerAuths...),
					Desc: "Methods allowed inside EAP-TTLS and EAP-PEAP."},
				{Name: "outer-auths", Type: value.EnumList(UMOuterAuths...),
					Desc: "Methods allowed."},
			},
			Builtin: []map[string]string{
				{"name": "default", "outer-auths": "pap,chap,mschap1,mschap2,eap-tls,eap-ttls,eap-peap,eap-mschap2",
					"inner-auths": "ttls-pap,ttls-chap,ttls-mschap1,ttls-mschap2,peap-mschap2"},
				{"name": "default-anonymous", "outer-auths": "eap-ttls,eap-peap"},
			},
			Columns: []string{"name", "outer-auths", "inner-auths"},
			Desc:    "Groups of users: the methods they may use and the attributes they get.",
		},
		{
			Path: UserManagerUserPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Required: true, Unique: true, Desc: "User name."},
				{Name: "attributes", Type: value.List(value.String()),
					Desc: "Attributes (Name:value) added to the user's Access-Accepts, e.g. Framed-IP-Address:192.168.77.100."},
				{Name: "caller-id", Type: value.String(),
					Desc: "Calling-Station-Id the user must come from; empty: any."},
				{Name: "comment", Type: value.String(), Desc: "Short description."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the user may log in."},
				{Name: "group", Type: value.String(), Default: "default", Ref: UserManagerGroupPath,
					Desc: "Group of the user."},
				{Name: "otp-secret", Type: value.String(), Sensitive: true,
					NoEffect: "one-time codes are not implemented", Desc: "Token of a one-time code appended to the password."},
				// The password is kept as given (Sensitive, in the 0600 store), as
				// RouterOS keeps it: CHAP and ttls-chap need it, and export
				// show-sensitive writes password= so that /import restores the user.
				{Name: "password", Type: value.String(), Sensitive: true, NoteHidden: true,
					Desc: "Password; print and export show it only with show-sensitive."},
				// Users stored before passwords were kept have only this NT hash. It is
				// Secret: only a backup carries it (hashes never leave otherwise), and
				// setting password= replaces it.
				{Name: "password-hash", Type: value.String(), Sensitive: true, Secret: true,
					Desc: "NT hash (nt: and 32 hex digits) of a user stored before routerd kept User Manager passwords; PAP, MS-CHAP and EAP-MSCHAPv2 check against it, CHAP needs password= set again. Only backups carry it."},
				{Name: "shared-users", Type: value.Int(0, 1000000), Default: "1",
					Desc: "Sessions the user may have at once; 0: unlimited."},
			},
			Flags:   []Flag{FlagDisabled},
			Columns: []string{"name", "group", "shared-users", "attributes"},
			Desc:    "Users User Manager authenticates.",
		},
		{
			Path: UserManagerSessionPath,
			Kind: Status,
			Props: []Prop{
				ro("user", "User name."),
				ro("nas-ip-address", "RADIUS client that reported the session."),
				ro("nas-port-id", "NAS-Port-Id of the session."),
				ro("calling-station-id", "Where the user connects from."),
				ro("user-address", "Framed-IP-Address of the session."),
				ro("acct-session-id", "Acct-Session-Id the client gave."),
				ro("started", "When accounting started."),
				ro("ended", "When accounting stopped (empty while active)."),
				ro("terminate-cause", "Acct-Terminate-Cause of the stop, in lower case (user-request, lost-carrier, session-timeout ...)."),
				ro("last-accounting-packet", "When the last Accounting-Request of the session came."),
				ro("uptime", "Session time reported by the client."),
				count("download", "Bytes sent to the user."),
				count("upload", "Bytes received from the user."),
				ro("status", "start, interim, stop, or auth (authenticated, no accounting yet)."),
				{Name: "active", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The session is open."},
			},
			Flags:    []Flag{FlagActive},
			NoExport: true,
			Columns:  []string{"user", "nas-ip-address", "calling-station-id", "user-address", "started", "uptime", "status"},
			Desc:     "Sessions User Manager authenticated and their accounting.",
		},
		{
			Path: UserManagerMonitorPath,
			Kind: Status,
			Props: []Prop{
				ro("method", "Authentication method."),
				count("accepts", "Access-Accepts sent."),
				count("rejects", "Access-Rejects sent."),
				count("challenges", "Access-Challenges sent."),
			},
			NoExport: true,
			Columns:  []string{"method", "accepts", "rejects", "challenges"},
			Desc:     "User Manager's answers per method.",
		},
	}
}

// msgAuth is /radius require-message-auth: RouterOS's two words, and yes (what routerd
// wrote before it took RouterOS's) as yes-for-request-resp.
type msgAuth struct{ value.Type }

func (t msgAuth) Parse(s string) (string, error) {
	if s == "yes" {
		s = "yes-for-request-resp"
	}
	return t.Type.Parse(s)
}

func (t msgAuth) Values() []string { return t.Type.(value.Lister).Values() }
