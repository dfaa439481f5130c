package menu

import (
	"slices"
	"strings"

	"github.com/routerd/routerd/control/value"
)

// serviceMenus declares /ip service (03-ip-service.txt) and the users and groups whose
// policies gate the services: /user/group before /user, which refers to it.
func serviceMenus() []*Menu {
	// User group policies, in the order RouterOS v7 prints them.
	groupPolicies := []string{
		"local", "telnet", "ssh", "ftp", "reboot", "read", "write", "policy", "test",
		"winbox", "password", "web", "sniff", "sensitive", "api", "romon", "rest-api",
		// RouterOS 6 policies of packages routerd does not have: kept so that v6 exports
		// load, granting nothing.
		"dude", "tikapp",
	}

	return []*Menu{
		{
			Path: ServicePath,
			Kind: Fixed,
			Props: []Prop{
				{Name: "name", Type: value.String(), ReadOnly: true, Unique: true, Desc: "Service name."},
				{Name: "port", Type: value.Int(1, 65535), Desc: "The port the service listens on."},
				{Name: "address", Type: value.AddrList(),
					Desc: "List of IP/IPv6 prefixes from which the service is accessible; empty allows all."},
				{Name: "certificate", Type: value.String(), Default: "none",
					Desc: "Name of the certificate used by the service (www-ssl, api-ssl)."},
				{Name: "tls-version", Type: value.Enum("any", "only-1.2"), Default: "any",
					Desc: "Which TLS versions the service allows."},
				{Name: "max-sessions", Type: value.Int(1, 1000), Default: "20",
					Desc: "Maximum simultaneous sessions of the service."},
				{Name: "vrf", Type: value.String(), Default: "main",
					Desc: "VRF instance the service listens in."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the service is disabled."},
				{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "The service cannot run as configured (e.g. no certificate, port in use)."},
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid},
			Columns: []string{"name", "port", "address", "certificate", "vrf", "max-sessions"},
			Builtin: []map[string]string{
				{"name": "telnet", "port": "23"},
				{"name": "ftp", "port": "21"},
				{"name": "www", "port": "80"},
				{"name": "ssh", "port": "22"},
				{"name": "www-ssl", "port": "443", "disabled": "yes"},
				{"name": "api", "port": "8728"},
				{"name": "winbox", "port": "8291"},
				{"name": "api-ssl", "port": "8729"},
			},
			Desc: "Management services; services cannot be added, only modified.",
		},
		{
			Path: UserGroupPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "Group name."},
				{Name: "policy", Type: policyList{value.EnumList(groupPolicies...)},
					Desc: "Policies granted to the group's users; !name (as RouterOS exports the policies not granted) grants nothing."},
				{Name: "skin", Type: value.String(), Default: "default", Desc: "WebFig skin of the group."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the group."},
			},
			// The built-in groups; more may be added.
			Builtin: []map[string]string{
				{"name": "read", "policy": "local,telnet,ssh,reboot,read,test,winbox,password,web,sniff,sensitive,api,romon,rest-api"},
				{"name": "write", "policy": "local,telnet,ssh,reboot,read,write,test,winbox,password,web,sniff,sensitive,api,romon,rest-api"},
				{"name": "full", "policy": "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,rest-api"},
			},
			Columns: []string{"name", "policy", "skin"},
			Desc:    "User groups and their policies.",
		},
		{
			Path: UserPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "User name."},
				{Name: "group", Type: value.String(), Ref: UserGroupPath, Required: true,
					Desc: "Group whose policies the user has."},
				{Name: "address", Type: value.AddrList(),
					Desc: "Prefixes the user may log in from; empty allows all."},
				{Name: "last-logged-in", Type: value.String(), ReadOnly: true,
					Desc: "Date and time of the user's last login."},
				// password is write-only: the engine turns it into password-hash (a salted
				// argon2id hash) before anything is stored, so no print or export can show
				// it. The hash is Secret: only a backup carries it (RouterOS never exports
				// user passwords), and loading a backup accepts it.
				{Name: "password", Type: value.String(), Sensitive: true, Desc: "User password (write-only)."},
				{Name: "password-hash", Type: value.String(), Sensitive: true, Secret: true,
					Desc: "Salted hash of the password, carried only by backups."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the user."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the user is disabled."},
			},
			Flags:   []Flag{FlagDisabled},
			Columns: []string{"name", "group", "address", "last-logged-in"},
			// admin exists on every router, as on RouterOS; being built in, an export
			// writes `set [ find name=admin ] ...`, which imports into a fresh router.
			Builtin: []map[string]string{{"name": "admin", "group": "full", "comment": "system default user"}},
			Desc:    "Router users.",
		},
		{
			Path: SSHKeysPath,
			Kind: List,
			Props: []Prop{
				{Name: "user", Type: value.String(), Ref: UserPath, Required: true,
					Desc: "User the key logs in as."},
				{Name: "key", Type: value.String(), Required: true,
					Desc: "Public key in authorized_keys form (type, base64 blob, optional owner)."},
				{Name: "key-type", Type: value.String(), ReadOnly: true, Desc: "Key algorithm."},
				{Name: "bits", Type: value.String(), ReadOnly: true, Desc: "Key size in bits."},
				{Name: "key-owner", Type: value.String(), ReadOnly: true,
					Desc: "Owner written after the key (user@host)."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the key."},
			},
			Commands: []string{"import"},
			Columns:  []string{"user", "key-type", "bits", "key-owner"},
			Desc:     "Public keys users log in with over ssh.",
		},
	}
}

// policyList is a group's policy list as RouterOS writes it: granted policies, and the
// ones not granted prefixed with ! (policy=local,telnet,!ftp,!write). The canonical value
// holds the granted ones; a policy both granted and negated is refused.
type policyList struct{ value.Type }

func (t policyList) Parse(s string) (string, error) {
	var pos, neg []string
	for _, w := range strings.Split(s, ",") {
		if n, ok := strings.CutPrefix(w, "!"); ok {
			neg = append(neg, n)
		} else {
			pos = append(pos, w)
		}
	}
	if len(neg) > 0 {
		if _, err := t.Type.Parse(strings.Join(neg, ",")); err != nil {
			return "", err
		}
	}
	for _, n := range neg {
		if slices.Contains(pos, n) {
			return "", value.ErrInvalid
		}
	}
	if len(pos) == 0 {
		return "", nil
	}
	return t.Type.Parse(strings.Join(pos, ","))
}
