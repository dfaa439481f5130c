package menu

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/routerd/routerd/control/value"
)

// Declarations of /ip ipsec, after shared/reference/10-ip-ipsec.txt.
//
// Where the manual's tables and its worked examples disagree, the choice and the reason
// are noted at the property.

// ipsecMenus returns the /ip ipsec menus, each after the menus it references.
func ipsecMenus() []*Menu {
	return []*Menu{
		ipsecProfileMenu(),
		ipsecProposalMenu(),
		ipsecKeyMenu(),
		ipsecPeerMenu(),
		v6PeerProfileMenu(),
		ipsecModeConfigMenu(),
		ipsecPolicyGroupMenu(),
		ipsecPolicyMenu(),
		ipsecIdentityMenu(),
		ipsecUserMenu(),
		v6UserSettingsMenu(),
		ipsecSettingsMenu(),
		ipsecStatisticsMenu(),
		ipsecActivePeersMenu(),
		ipsecInstalledSAMenu(),
	}
}

// Value types shared by the ipsec menus.

// ipsecDuration is a time without a bound the manual states.
func ipsecDuration() value.Type { return value.Time(0, time.Duration(math.MaxInt64)) }

// ipsecCounter is a read-only counter.
func ipsecCounter() value.Type { return value.Int(0, math.MaxInt64) }

// ipsecPort is a policy port: any, or a number.
func ipsecPort() value.Type { return value.OneOf(value.Enum("any"), value.Int(0, 65535)) }

// ipsecIPProtocol is an IP protocol by name or number, as the firewall takes it.
func ipsecIPProtocol() value.Type {
	return value.OneOf(value.Enum(
		"all", "dccp", "ddp", "egp", "encap", "etherip", "ggp", "gre", "hmp", "icmp", "icmpv6",
		"idpr-cmtp", "igmp", "ipencap", "ipip", "ipsec-ah", "ipsec-esp", "ipv6", "ipv6-encap",
		"ipv6-frag", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "iso-tp4", "l2tp", "ospf",
		"pim", "pup", "rdp", "rspf", "rsvp", "sctp", "st", "tcp", "udp", "udp-lite", "vmtp",
		"vrrp", "xns-idp", "xtp",
	), value.Int(0, 255))
}

var (
	ipsecDHGroups = []string{
		"modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144",
		"modp8192", "ecp256", "ecp384", "ecp521", "curve25519",
	}
	// RouterOS 7 adds sha384 to the manual's lists (phase 1 hash and phase 2 auth).
	ipsecPhase2AuthAlgorithms = []string{"md5", "null", "sha1", "sha256", "sha384", "sha512"}
)

// Flags of the ipsec menus besides the standard ones.
var (
	ipsecFlagDefault   = Flag{'*', "default"}
	ipsecFlagTemplate  = Flag{'T', "template"}
	ipsecFlagResponder = Flag{'R', "responder"}
)

func ipsecProfileMenu() *Menu {
	return &Menu{
		Path: IPsecProfilePath,
		Kind: List,
		Desc: "Phase 1 (IKE) parameters shared by peers.",
		Props: []Prop{
			{Name: "dh-group", Type: value.EnumList(ipsecDHGroups...), Default: "modp1024,modp2048",
				Desc: "Diffie-Hellman group (cipher strength)."},
			{Name: "dpd-interval", Type: value.OneOf(value.Enum("disable-dpd"), ipsecDuration()), Default: "8s",
				Desc: "Dead peer detection interval: the peer is probed once silent this long, and again every interval while unanswered; disable-dpd turns dead peer detection off."},
			{Name: "dpd-maximum-failures", Type: value.Int(1, 100), Default: "4",
				Desc: "Maximum count of failures until the peer is considered dead (when DPD is enabled): a failure is a probe unanswered for dpd-interval, so a silent peer is dead within dpd-interval x (dpd-maximum-failures + 1) of its last message. Applied to ike2 as well."},
			// RouterOS 7 adds the counter-mode, GCM and ChaCha20-Poly1305 names.
			{Name: "enc-algorithm", Type: value.EnumList("3des", "aes-128", "aes-192", "aes-256", "blowfish",
				"camellia-128", "camellia-192", "camellia-256", "des",
				"aes-128-ctr", "aes-192-ctr", "aes-256-ctr", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
				"chacha20poly1305"), Default: "aes-128",
				Desc: "List of encryption algorithms that will be used by the peer."},
			{Name: "hash-algorithm", Type: value.Enum("md5", "sha1", "sha256", "sha384", "sha512"), Default: "sha1",
				Desc: "Hashing algorithm; SHA is stronger but slower than MD5."},
			{Name: "lifebytes", Type: value.Int(0, 4294967295), Default: "0",
				Desc: "Phase 1 lifebytes: an administrative value added to the proposal."},
			{Name: "lifetime", Type: ipsecDuration(), Default: "1d",
				Desc: "Phase 1 lifetime: how long the SA will be valid."},
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the profile."},
			{Name: "nat-traversal", Type: value.Bool(), Default: "yes",
				Desc: "Use the Linux NAT-T mechanism (UDP encapsulation of ESP) to pass NAT routers."},
			// RouterOS 7 writes it in every profile it exports.
			{Name: "prf-algorithm", Type: value.Enum("auto", "sha1", "sha256", "sha384", "sha512"), Default: "auto",
				Desc: "Pseudo-random function of IKE; auto uses the hash algorithm (IKEv1) or the integrity algorithm (IKEv2)."},
			// RouterOS 7.24 writes ppk=no in every profile it exports. The values are the PPK
			// sources of the manual's QKD page (static, psk, psk-ike-initial, qkd).
			{Name: "ppk", Type: value.Enum("no", "static", "psk", "psk-ike-initial", "qkd"), Default: "no",
				Desc: "Post-quantum preshared key (RFC 9867) source; only no is supported here, any other value is refused."},
			{Name: "proposal-check", Type: value.Enum("claim", "exact", "obey", "strict"), Default: "obey",
				Desc: "Phase 2 lifetime check logic: claim, exact, obey or strict."},
		},
		Flags: []Flag{ipsecFlagDefault},
		// RouterOS 7's table of profiles (phase 1 algorithms).
		Brief:   []string{"name", "hash-algorithm", "enc-algorithm", "dh-group", "lifetime"},
		Builtin: []map[string]string{{"name": "default"}},
	}
}

// v6PeerProfileMenu is RouterOS 6.43's /ip ipsec peer profile, which 6.44 renamed /ip
// ipsec profile: the same properties and flags, so that a 6.43 export's lines parse
// (`set [ find default=yes ] ...`), and every command given here runs at /ip ipsec
// profile (package compat, Executor.Rename); the menu never holds an item.
func v6PeerProfileMenu() *Menu {
	return v6Alias(ipsecProfileMenu(), V6PeerProfilePath,
		"RouterOS 6.43's name of /ip ipsec profile: every command given here runs there, as the upgrade to 6.44 moved the profiles.")
}

// v6Alias is menu m under the older path it had in RouterOS 6, keeping only the
// properties named in keep (all when none): each property points at its v7 home (Prop.V6),
// and the alias holds no built-in item, since every command runs at m's path.
func v6Alias(m *Menu, path, desc string, keep ...string) *Menu {
	target := m.Path
	m.Path = path
	m.Desc = desc
	m.Builtin = nil
	m.Brief = nil
	var props []Prop
	for _, p := range m.Props {
		if len(keep) > 0 && !slices.Contains(keep, p.Name) {
			continue
		}
		p.V6 = Console(target) + " " + p.Name
		props = append(props, p)
	}
	m.Props = props
	return m
}

func ipsecProposalMenu() *Menu {
	return &Menu{
		Path: IPsecProposalPath,
		Kind: List,
		Desc: "Phase 2 proposals sent by the IKE daemon to establish SAs for policies.",
		Props: []Prop{
			{Name: "auth-algorithms", Type: value.EnumList(ipsecPhase2AuthAlgorithms...), Default: "sha1",
				Desc: "Allowed algorithms for authorization."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the proposal."},
			{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the item is disabled."},
			// The manual's list repeats aes-128-cbc, omits aes-128-ctr and spells aes-128gcm;
			// its own examples use aes-128-gcm. The list here is the regular one.
			{Name: "enc-algorithms", Type: value.EnumList("null", "des", "3des",
				"aes-128-cbc", "aes-128-ctr", "aes-128-gcm",
				"aes-192-cbc", "aes-192-ctr", "aes-192-gcm",
				"aes-256-cbc", "aes-256-ctr", "aes-256-gcm",
				"blowfish", "camellia-128", "camellia-192", "camellia-256", "twofish", "chacha20poly1305"),
				Default: "aes-256-cbc,aes-192-cbc,aes-128-cbc",
				Desc:    "Allowed algorithms and key lengths to use for SAs."},
			{Name: "lifetime", Type: ipsecDuration(), Default: "30m",
				Desc: "How long to use an SA before throwing it out."},
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the proposal."},
			{Name: "pfs-group", Type: value.Enum(append(append([]string{}, ipsecDHGroups...), "none")...),
				Default: "modp1024", Desc: "Diffie-Hellman group used for Perfect Forward Secrecy."},
		},
		Flags: []Flag{FlagDisabled, ipsecFlagDefault},
		// RouterOS 7's table of proposals (phase 2 algorithms).
		Brief:   []string{"name", "auth-algorithms", "enc-algorithms", "lifetime", "pfs-group"},
		Builtin: []map[string]string{{"name": "default"}},
	}
}

func ipsecKeyMenu() *Menu {
	return &Menu{
		Path: IPsecKeyPath,
		Kind: List,
		Desc: "Imported public and private keys for peer authentication (auth-method=rsa-key).",
		Props: []Prop{
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the key."},
			{Name: "key-size", Type: value.Enum("1024", "2048", "4096"), ReadOnly: true,
				Desc: "Size of this key."},
			// The key itself (PKCS#8 for a private key, PKIX for a public one; base64):
			// never printed or exported, carried by backups.
			{Name: "key-der", Type: value.String(), Secret: true,
				Desc: "The key (DER, base64); set by generate-key and import, carried by backups."},
		},
		BackupOnly: true,
		Flags:      []Flag{{'P', "private-key"}, {'R', "rsa"}},
		// export-pub-key (file-name, key): export the public key of a private key to a file.
		// generate-key (key-size, name): generate a private key of 1024, 2048 or 4096 bits.
		// import (file-name, name): import a key from a file.
		Commands: []string{"export-pub-key", "generate-key", "import"},
		Columns:  []string{"name", "key-size"},
	}
}

func ipsecPeerMenu() *Menu {
	return &Menu{
		Path: IPsecPeerPath,
		Kind: List,
		Desc: "Peers: how to reach remote IKE daemons (phase 1).",
		Props: append([]Prop{
			// The manual's type is an IP/IPv6 prefix; its IKEv2 example gives a DNS name
			// (address=n.mynetname.net), so host names are accepted too.
			{Name: "address", Type: value.OneOf(value.Prefix(), HostName{}), Default: "0.0.0.0/0",
				Desc: "Remote peer address prefix (or DNS name) this configuration applies to; the most specific match wins."},
			{Name: "actual-address", Type: value.IP(), ReadOnly: true,
				Desc: "Address in use when address is a DNS name (resolved through /ip dns, again when the record's TTL runs out, 5s to 1d, and at once when /ip dns changes), as a tunnel's actual-remote-address."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the peer."},
			{Name: "disabled", Type: value.Bool(), Default: "no",
				Desc: "Whether the peer is used to match remote peers' prefixes."},
			{Name: "exchange-mode", Type: value.Enum("aggressive", "base", "main", "ike2"), Default: "main",
				Desc: "ISAKMP phase 1 exchange mode (RFC 2408); ike2 enables IKEv2 (RFC 7296)."},
			{Name: "local-address", Type: value.IP(),
				Desc: "Router's local address to which phase 1 is bound."},
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the peer."},
			{Name: "passive", Type: value.Bool(), Default: "no",
				Desc: "Wait for the remote peer to initiate (and act as xauth responder)."},
			{Name: "port", Type: value.Int(0, 65535), Default: "500",
				Desc: "Remote port to connect to when the router is the initiator."},
			{Name: "profile", Type: value.String(), Default: "default", Ref: IPsecProfilePath,
				Desc: "Name of the profile used during IKE negotiation."},
			{Name: "send-initial-contact", Type: value.Bool(), Default: "yes",
				Desc: "Send the initial-contact IKE packet, removing old peer SAs for the source address."},
			// RouterOS 6.44 and later write it on peers; IKEv2 ignores it (the manual).
			{Name: "compatibility-options", Type: value.EnumList("skip-peer-id-check"),
				Desc: "IKEv1 workarounds: skip-peer-id-check accepts an address ID other than the peer's address (remote-id=auto)."},
		}, ipsecPeerV6()...),
		Flags:   []Flag{FlagDisabled, FlagDynamic, ipsecFlagResponder},
		Columns: []string{"name", "address", "profile", "exchange-mode"},
	}
}

func ipsecModeConfigMenu() *Menu {
	return &Menu{
		Path: IPsecModeConfigPath,
		Kind: List,
		Desc: "ISAKMP and IKEv2 configuration attributes (mode config).",
		Props: []Prop{
			{Name: "address", Type: value.OneOf(value.Enum("none"), value.IPv4()),
				Desc: "Single IP address for the initiator instead of a whole address pool."},
			// A loose reference: RouterOS exports /ip ipsec mode-config before /ip pool, so
			// the name must be accepted before the pool exists; a pool in use is still
			// refused at remove.
			{Name: "address-pool", Type: value.String(), LooseRef: PoolPath,
				Desc: "Address pool from which the responder assigns addresses (none for no pool)."},
			{Name: "address-prefix-length", Type: value.Int(1, 32),
				Desc: "Prefix length (netmask) of the address assigned from the pool."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the mode config."},
			// RouterOS 7 (initiator): the dynamic src-nat rules match this connection mark too.
			{Name: "connection-mark", Type: value.String(),
				Desc: "Connection mark the dynamic source NAT rules match (initiator only, responder=no)."},
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the mode config."},
			// The property table says Default: no, but the worked examples create responder
			// entries ("create a new mode config entry with responder=yes") without giving
			// responder=, and initiators always give responder=no: the default is yes. The
			// built-in request-only entry is the initiator one.
			{Name: "responder", Type: value.Bool(), Default: "yes",
				Desc: "Whether the configuration works as responder (server) or initiator (client)."},
			{Name: "split-dns", Type: value.List(value.String()),
				Desc: "DNS names resolved through the system-dns or static-dns servers."},
			{Name: "split-include", Type: value.List(value.Prefix4()),
				Desc: "Subnets to tunnel, sent to the peer with the Cisco Unity extension."},
			// future Ref: /ip/firewall/address-list (list names)
			{Name: "src-address-list", Type: value.String(),
				Desc: "Address list for dynamic source NAT rules (initiator only, responder=no)."},
			{Name: "static-dns", Type: value.List(value.IP()),
				Desc: "DNS servers sent to the client."},
			// The table gives no default; the text says "By default, system-dns=yes is used".
			{Name: "system-dns", Type: value.Bool(), Default: "yes",
				Desc: "Send the DNS servers of /ip dns."},
			// RouterOS 6 and 7 exports write it on the request-only item.
			{Name: "use-responder-dns", Type: value.Enum("exclusively", "yes", "no"), Default: "exclusively",
				NoEffect: "DNS servers a responder sends are not installed in /ip dns here",
				Desc:     "Initiator: use the DNS servers the responder sends (stored only)."},
		},
		Flags: []Flag{ipsecFlagDefault},
		// RouterOS 7's table of mode configs.
		Brief:   []string{"name", "responder", "address-pool", "address", "split-include"},
		Builtin: []map[string]string{{"name": "request-only", "responder": "no"}},
	}
}

func ipsecPolicyGroupMenu() *Menu {
	return &Menu{
		Path: IPsecPolicyGroupPath,
		Kind: List,
		Desc: "Policy groups used by policy templates.",
		Props: []Prop{
			{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the policy group."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the group."},
		},
		Flags:   []Flag{ipsecFlagDefault},
		Columns: []string{"name"},
		Builtin: []map[string]string{{"name": "default"}},
	}
}

func ipsecPolicyMenu() *Menu {
	return &Menu{
		Path:    IPsecPolicyPath,
		Kind:    List,
		Ordered: true, // policies are matched top to bottom (since v6.40)
		Desc:    "Security policy database: which packets IPsec transforms.",
		// In the order RouterOS prints a policy (the reference's print outputs).
		Props: []Prop{
			{Name: "peer", Type: value.String(), Ref: IPsecPeerPath,
				Desc: "Name of the peer on which the policy applies."},
			{Name: "group", Type: value.String(), Default: "default", Ref: IPsecPolicyGroupPath,
				Desc: "Policy group to which this template is assigned."},
			{Name: "src-address", Type: value.Prefix(), Default: "0.0.0.0/32",
				Desc: "Source address to match (tunnel mode or template)."},
			{Name: "src-port", Type: ipsecPort(), Default: "any",
				Desc: "Source port to match; any matches all ports."},
			{Name: "dst-address", Type: value.Prefix(), Default: "0.0.0.0/32",
				Desc: "Destination address to match (tunnel mode or template)."},
			{Name: "dst-port", Type: ipsecPort(), Default: "any",
				Desc: "Destination port to match; any matches all ports."},
			{Name: "protocol", Type: ipsecIPProtocol(), Default: "all", Desc: "IP protocol to match."},
			{Name: "action", Type: value.Enum("discard", "encrypt", "none"), Default: "encrypt",
				Desc: "What to do with a matched packet: none (pass), discard (drop) or encrypt."},
			{Name: "level", Type: value.Enum("require", "unique", "use"), Default: "require",
				Desc: "What to do when an SA is missing: use (skip), require (drop and acquire), unique (unique SA)."},
			{Name: "ipsec-protocols", Type: value.EnumList("ah", "esp"), Default: "esp",
				Desc: "Combination of AH and ESP to apply to matched traffic."},
			{Name: "tunnel", Type: value.Bool(), Default: "no", Desc: "Whether to use tunnel mode."},
			// Read-only in the property table: an encrypting policy's follow its peer (and
			// a v6 line's sa-dst-address names the peer, package compat). The reference's
			// "Using generic IPsec policy" gives them to a discard policy, which has no
			// peer: there they are kept as written.
			{Name: "sa-src-address", Type: value.IP(),
				Desc: "SA source address (local peer); written only on a policy without a peer (discard, none)."},
			{Name: "sa-dst-address", Type: value.IP(),
				Desc: "SA destination address (remote peer); written only on a policy without a peer (discard, none)."},
			{Name: "proposal", Type: value.String(), Default: "default", Ref: IPsecProposalPath,
				Desc: "Proposal the IKE daemon sends to establish SAs for this policy."},
			{Name: "template", Type: value.Bool(), Default: "no",
				Desc: "Make this a template of the policy group (used by generate-policy)."},
			{Name: "ph2-count", Type: ipsecCounter(), ReadOnly: true,
				Desc: "Number of active phase 2 sessions associated with the policy."},
			{Name: "ph2-state", Type: value.Enum("expired", "no-phase2", "established"), ReadOnly: true,
				Desc: "Progress of key establishing."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the policy."},
			{Name: "disabled", Type: value.Bool(), Default: "no",
				Desc: "Whether the policy is used to match packets."},
		},
		PrintKeys: ipsecPolicyPrintKeys,
		Flags:     []Flag{ipsecFlagTemplate, FlagDisabled, FlagDynamic, FlagInvalid, FlagActive, ipsecFlagDefault},
		// RouterOS 7's table of policies.
		Brief: []string{"peer", "tunnel", "src-address", "dst-address", "protocol", "action", "level", "ph2-count"},
		Builtin: []map[string]string{{
			"group": "default", "src-address": "::/0", "dst-address": "::/0",
			"protocol": "all", "proposal": "default", "template": "yes",
		}},
	}
}

// ipsecPolicyPrintKeys is what RouterOS prints of a policy: a template its group,
// selectors and proposal; any other policy its selectors, action, SA and proposal, and
// the phase 2 count and state when it encrypts. group, template and disabled (a flag)
// are read with get.
func ipsecPolicyPrintKeys(p map[string]string) []string {
	if p["template"] == "yes" {
		ks := []string{"group", "src-address"}
		if v := p["src-port"]; v != "" && v != "any" {
			ks = append(ks, "src-port")
		}
		ks = append(ks, "dst-address")
		if v := p["dst-port"]; v != "" && v != "any" {
			ks = append(ks, "dst-port")
		}
		ks = append(ks, "protocol")
		if v := p["level"]; v != "" && v != "require" {
			ks = append(ks, "level")
		}
		return withStatus(append(ks, "proposal", "template"), p)
	}
	var ks []string
	if p["peer"] != "" {
		ks = append(ks, "peer")
	}
	ks = append(ks, "src-address", "src-port", "dst-address", "dst-port", "protocol", "action", "level",
		"ipsec-protocols", "tunnel", "sa-src-address", "sa-dst-address", "proposal")
	if p["action"] == "" || p["action"] == "encrypt" {
		ks = append(ks, "ph2-count", "ph2-state")
	}
	return withStatus(ks, p)
}

// withStatus adds routerd's status (why an invalid policy is not applied) when there is
// one: the I flag alone does not say what to fix.
func withStatus(ks []string, p map[string]string) []string {
	if p["status"] != "" {
		ks = append(ks, "status")
	}
	return ks
}

func ipsecIdentityMenu() *Menu {
	return &Menu{
		Path: IPsecIdentityPath,
		Kind: List,
		Desc: "Per remote peer authentication parameters.",
		Props: []Prop{
			{Name: "auth-method", Type: value.Enum("digital-signature", "eap", "eap-radius", "pre-shared-key",
				"pre-shared-key-xauth", "rsa-key", "rsa-signature-hybrid"), Default: "pre-shared-key",
				Desc: "Authentication method."},
			// future Ref: /certificate
			{Name: "certificate", Type: value.String(),
				Desc: "Certificate (with private key) to sign with (digital-signature, eap)."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the identity."},
			{Name: "disabled", Type: value.Bool(), Default: "no",
				Desc: "Whether the identity is used to match remote peers."},
			{Name: "eap-methods", Type: value.EnumList("eap-mschapv2", "eap-peap", "eap-tls", "eap-ttls"),
				Default: "eap-tls", Desc: "EAP methods to use, in order (auth-method=eap)."},
			{Name: "generate-policy", Type: value.Enum("no", "port-override", "port-strict"), Default: "no",
				Desc: "Let the peer establish SAs for non-existing policies, creating them dynamically."},
			{Name: "key", Type: value.String(), Ref: IPsecKeyPath,
				Desc: "Private key from the keys menu (auth-method=rsa-key)."},
			{Name: "match-by", Type: value.Enum("remote-id", "certificate"), Default: "remote-id",
				Desc: "How the peer's identity is validated: by remote-id or by remote-certificate."},
			{Name: "mode-config", Type: value.String(), Default: "none", Ref: IPsecModeConfigPath,
				RefExtra: []string{"none"},
				Desc:     "Mode config parameters to use; setting it enables mode config."},
			{Name: "my-id", Type: ipsecID{}, Default: "auto", Auto: true,
				Desc: "ID sent to the remote side (ID_i on initiator, ID_r on responder)."},
			// future Ref: a chain of /ip/firewall/raw
			{Name: "notrack-chain", Type: value.String(),
				Desc: "Add IP/Firewall/Raw rules matching the IPsec policy to this chain."},
			{Name: "password", Type: value.String(), Sensitive: true,
				Desc: "XAuth or EAP password."},
			{Name: "peer", Type: value.String(), Ref: IPsecPeerPath,
				Desc: "Name of the peer on which the identity applies."},
			{Name: "policy-template-group", Type: value.String(), Default: "default",
				Ref: IPsecPolicyGroupPath, RefExtra: []string{"none"},
				Desc: "Policy template group checked when generate-policy is enabled."},
			// future Ref: /certificate
			{Name: "remote-certificate", Type: value.String(),
				Desc: "Certificate for authenticating the remote side (no private key required)."},
			{Name: "remote-id", Type: ipsecID{Ignore: true}, Default: "auto", Auto: true,
				Desc: "ID expected from the remote peer; ignore does not verify it (dangerous)."},
			{Name: "remote-key", Type: value.String(), Ref: IPsecKeyPath,
				Desc: "Public key from the keys menu (auth-method=rsa-key)."},
			{Name: "secret", Type: value.String(), Sensitive: true,
				Desc: "Pre-shared secret; 0x-prefixed means hexadecimal."},
			{Name: "username", Type: value.String(), Desc: "XAuth or EAP username."},
		},
		Flags: []Flag{FlagDisabled, FlagDynamic},
		// RouterOS 7's table of identities; never the secret or password.
		Brief: []string{"peer", "auth-method", "my-id", "remote-id", "mode-config", "generate-policy"},
	}
}

func ipsecSettingsMenu() *Menu {
	return &Menu{
		Path: IPsecSettingsPath,
		Kind: Single,
		Desc: "Global IPsec settings (RADIUS accounting, XAuth).",
		Props: []Prop{
			// The table gives no default; the User Manager example says "By default RADIUS
			// accounting is already enabled for IPsec".
			{Name: "accounting", Type: value.Bool(), Default: "yes",
				Desc: "Send RADIUS accounting requests (eap-radius, pre-shared-key-xauth)."},
			{Name: "interim-update", Type: ipsecDuration(),
				Desc: "Interval between RADIUS accounting interim updates."},
			{Name: "xauth-use-radius", Type: value.Bool(),
				Desc: "Use the RADIUS client for XAuth users (IKEv1 peers only)."},
		},
	}
}

// v6UserSettingsMenu is RouterOS 6's /ip ipsec user settings, whose one property v7 moved
// to /ip ipsec settings: a RouterOS 6 export's line (`set xauth-use-radius=no`) parses,
// and every command given here runs at /ip ipsec settings (package compat,
// Executor.Rename); the menu never holds an item.
func v6UserSettingsMenu() *Menu {
	return v6Alias(ipsecSettingsMenu(), V6UserSettingsPath,
		"RouterOS 6's name of /ip ipsec settings xauth-use-radius: every command given here runs at /ip ipsec settings, as the upgrade to 7 moved it.",
		"xauth-use-radius")
}

func ipsecStatisticsMenu() *Menu {
	c := func(name, desc string) Prop {
		return Prop{Name: name, Type: ipsecCounter(), ReadOnly: true, Desc: desc}
	}
	return &Menu{
		Path:     IPsecStatisticsPath,
		Kind:     Single,
		NoExport: true,
		Desc:     "IPsec statistics and errors (read-only).",
		Props: []Prop{
			ipsecDatapathProp(),
			{Name: "datapath-status", Type: value.String(), ReadOnly: true,
				Desc: "routerd: ok, or why the ESP data path cannot carry traffic now (its device was removed behind routerd's back and is being made again)."},
			{Name: "datapath-receive", Type: value.String(), ReadOnly: true,
				Desc: "routerd, userspace data path: how inbound raw IPv4 ESP arrives now: port-gro (the port program hands the installed SAs' ESP to a UDP socket whose GRO batches it; only while no IPv4 firewall rule could see it, as for the fast path) or raw-socket (one delivery per packet; also whenever routerd runs without ROUTERD_ESP_RXSTEER=port-gro)."},
			{Name: "receive-steered-packets", Type: ipsecCounter(), ReadOnly: true,
				Desc: "routerd, userspace data path: ESP packets that arrived by port-gro."},
			{Name: "receive-steered-reads", Type: ipsecCounter(), ReadOnly: true,
				Desc: "routerd, userspace data path: the GRO batches those packets came in (packets / reads: how well GRO merges them)."},
			c("in-errors", "All inbound errors not matched by other counters."),
			c("in-buffer-errors", "No free buffer."),
			c("in-header-errors", "Header error."),
			c("in-no-states", "No state found: inbound SPI, address or IPsec protocol at SA is wrong."),
			c("in-state-protocol-errors", "Transformation protocol specific error (e.g. wrong SA key)."),
			c("in-state-mode-errors", "Transformation mode specific error."),
			c("in-state-sequence-errors", "Sequence number out of window."),
			c("in-state-expired", "The state is expired."),
			c("in-state-mismatches", "The state has a mismatched option (e.g. UDP encapsulation type)."),
			c("in-state-invalid", "The state is invalid."),
			c("in-template-mismatches", "No matching template for states (e.g. wrong SP rule)."),
			c("in-no-policies", "No policy found for states."),
			c("in-policy-blocked", "Policy discards."),
			c("in-policy-errors", "Policy errors."),
			c("out-errors", "All outbound errors not matched by other counters. On the userspace data path these include the packets its device (ipsec0) dropped because its queue to routerd was full (ip -s link: TX dropped)."),
			c("out-bundle-errors", "Bundle generation error."),
			c("out-bundle-check-errors", "Bundle check error."),
			c("out-no-states", "No state found."),
			c("out-state-protocol-errors", "Transformation protocol specific error."),
			c("out-state-mode-errors", "Transformation mode specific error."),
			c("out-state-sequence-errors", "Sequence errors, e.g. sequence number overflow."),
			c("out-state-expired", "The state is expired."),
			c("out-policy-blocked", "Policy discards."),
			c("out-policy-dead", "The policy is dead."),
			c("out-policy-errors", "Policy error."),
		},
	}
}

// ipsecDatapathProp is routerd's own: which ESP data path carries the SAs, chosen at start
// by probing the kernel (kernel-xfrm where it has ESP, userspace ESP in Go where not).
func ipsecDatapathProp() Prop {
	return Prop{Name: "datapath", Type: value.Enum("kernel-xfrm", "userspace"), ReadOnly: true,
		Desc: "routerd: the ESP data path in use, chosen at start by probing the kernel."}
}

func ipsecActivePeersMenu() *Menu {
	return &Menu{
		Path:       IPsecActivePeersPath,
		Kind:       Status,
		StatusPage: true,
		NoExport:   true,
		Desc:       "Remote peers with an established phase 1.",
		Props: []Prop{
			{Name: "dynamic-address", Type: value.IP(), ReadOnly: true,
				Desc: "Address assigned dynamically by mode config."},
			{Name: "last-seen", Type: ipsecDuration(), ReadOnly: true,
				Desc: "Time since the last message received from this peer."},
			{Name: "local-address", Type: value.IP(), ReadOnly: true,
				Desc: "Local address used by this peer."},
			{Name: "ph2-total", Type: ipsecCounter(), ReadOnly: true,
				Desc: "Total number of active IPsec security associations."},
			{Name: "port", Type: value.Int(0, 65535), ReadOnly: true,
				Desc: "The remote peer's UDP port (its NAT's mapping when it is behind one; followed when it changes)."},
			{Name: "remote-address", Type: value.IP(), ReadOnly: true,
				Desc: "The remote peer's address."},
			{Name: "rx-bytes", Type: ipsecCounter(), ReadOnly: true, Desc: "Bytes received from this peer."},
			{Name: "rx-packets", Type: ipsecCounter(), ReadOnly: true, Desc: "Packets received from this peer."},
			{Name: "side", Type: value.Enum("initiator", "responder"), ReadOnly: true,
				Desc: "Which side initiated the phase 1 negotiation."},
			{Name: "state", Type: value.String(), ReadOnly: true,
				Desc: "State of phase 1 negotiation (e.g. established)."},
			{Name: "tx-bytes", Type: ipsecCounter(), ReadOnly: true, Desc: "Bytes transmitted to this peer."},
			{Name: "tx-packets", Type: ipsecCounter(), ReadOnly: true, Desc: "Packets transmitted to this peer."},
			{Name: "uptime", Type: ipsecDuration(), ReadOnly: true,
				Desc: "How long the peer has been established."},
		},
		// responder: the connection was initiated by the remote peer; natt-peer: NAT-T is used.
		Flags: []Flag{{'R', "responder"}, {'N', "natt-peer"}},
		// kill-connections: disconnect all remote peers.
		Commands: []string{"kill-connections"},
		Columns:  []string{"remote-address", "state", "uptime", "ph2-total"},
	}
}

func ipsecInstalledSAMenu() *Menu {
	return &Menu{
		Path:       IPsecInstalledSAPath,
		Kind:       Status,
		StatusPage: true,
		NoExport:   true,
		Desc:       "Installed security associations, including their keys.",
		Props: []Prop{
			// Printed soft/hard ("10m/15m"): no value type takes a slash pair yet.
			{Name: "add-lifetime", Type: value.String(), ReadOnly: true,
				Desc: "Lifetime of the SA as soft/hard: rekey after soft, delete after hard."},
			// A date and time: no date-time value type yet.
			{Name: "addtime", Type: value.String(), ReadOnly: true,
				Desc: "Date and time when this SA was added."},
			{Name: "auth-algorithm", Type: value.Enum(ipsecPhase2AuthAlgorithms...), ReadOnly: true,
				Desc: "Authentication algorithm in use."},
			{Name: "auth-key", Type: value.String(), ReadOnly: true, Sensitive: true,
				Desc: "Authentication key in use."},
			{Name: "current-bytes", Type: ipsecCounter(), ReadOnly: true,
				Desc: "Number of bytes seen by this SA."},
			ipsecDatapathProp(),
			{Name: "datapath-receive", Type: value.String(), ReadOnly: true,
				Desc: "routerd, userspace data path, inbound raw ESP SA: how its packets arrive now: port-gro (the port program hands them to the path's GRO socket) or raw-socket (the steering off, an IPv6 SA, or the port program's SA table full); /ip ipsec statistics print says why for the path as a whole. Not shown for outbound and ESP-in-UDP SAs."},
			{Name: "dst-address", Type: value.IP(), ReadOnly: true, Desc: "Destination address of this SA."},
			{Name: "enc-algorithm", Type: value.Enum("null", "des", "3des", "aes-cbc", "aes-ctr", "aes-gcm",
				"blowfish", "camellia", "twofish"), ReadOnly: true,
				Desc: "Encryption algorithm in use."},
			{Name: "enc-key", Type: value.String(), ReadOnly: true, Sensitive: true,
				Desc: "Encryption key in use."},
			{Name: "enc-key-size", Type: value.Int(0, 65535), ReadOnly: true,
				Desc: "Encryption key length."},
			// The manual types it (yes | no); it is the time left until rekeying.
			{Name: "expires-in", Type: ipsecDuration(), ReadOnly: true, Desc: "Time left until rekeying."},
			{Name: "replay", Type: ipsecCounter(), ReadOnly: true, Desc: "Size of the replay window in bytes."},
			{Name: "spi", Type: value.String(), ReadOnly: true, Desc: "Security Parameter Index."},
			{Name: "src-address", Type: value.IP(), ReadOnly: true, Desc: "Source address of this SA."},
			{Name: "state", Type: value.String(), ReadOnly: true,
				Desc: "Current state of the SA (mature, dying...)."},
		},
		Flags: []Flag{{'H', "hw-aead"}, {'A', "AH"}, {'E', "ESP"}},
		// RouterOS 7's table of installed SAs.
		Brief: []string{"spi", "state", "src-address", "dst-address", "auth-algorithm", "enc-algorithm", "enc-key-size"},
		// flush: remove all installed SAs.
		Commands: []string{"flush"},
	}
}

// HostName accepts a DNS host name (peer address=n.mynetname.net, tunnel remote-address). Dotted numbers are
// not host names, so that a mistyped address is not taken for one.
type HostName struct{}

func (HostName) Name() string { return "host name" }

func (HostName) Parse(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return "", value.ErrInvalid
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", value.ErrInvalid
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", value.ErrInvalid
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "", value.ErrInvalid
	}
	return s, nil
}

// ipsecID is an IKE identity, my-id= and remote-id=: a kind and a value, "fqdn:vpn.example",
// "address:192.0.2.1", "user-fqdn:user@example", "key-id:...", "dn:CN=...". Ignore adds the
// bare word ignore (remote-id). The word auto is the property's Auto.
type ipsecID struct{ Ignore bool }

func (t ipsecID) Name() string {
	n := "address:IP | fqdn:name | user-fqdn:name | key-id:id | dn:name"
	if t.Ignore {
		n += " | ignore"
	}
	return n
}

func (t ipsecID) Parse(s string) (string, error) {
	if t.Ignore && s == "ignore" {
		return s, nil
	}
	kind, v, ok := strings.Cut(s, ":")
	if !ok || v == "" {
		return "", value.ErrInvalid
	}
	switch kind {
	case "address":
		a, err := value.IP().Parse(v)
		if err != nil {
			return "", err
		}
		return kind + ":" + a, nil
	case "fqdn", "user-fqdn", "key-id", "dn":
		return s, nil
	}
	return "", value.ErrNoMatch
}

// IPsecPeerV6Identity and IPsecPeerV6Profile are the properties a RouterOS 6 peer had
// (before 6.43) that RouterOS 7 keeps in /ip ipsec identity and /ip ipsec profile;
// xauth-login and xauth-password became username and password; auth-method=rsa-key with
// key= and remote-key= (keys of /ip ipsec key) went to the identity as they were.
var (
	IPsecPeerV6Identity = []string{"secret", "auth-method", "generate-policy", "policy-template-group",
		"my-id", "mode-config", "certificate", "remote-certificate", "xauth-login", "xauth-password", "notrack-chain",
		"key", "remote-key"}
	IPsecPeerV6Profile = []string{"dh-group", "enc-algorithm", "hash-algorithm", "lifetime", "lifebytes",
		"nat-traversal", "dpd-interval", "dpd-maximum-failures", "proposal-check"}
)

func ipsecPeerV6() []Prop {
	var out []Prop
	for _, n := range IPsecPeerV6Identity {
		out = append(out, Prop{Name: n, Type: value.String(), V6: Console(IPsecIdentityPath), Sensitive: n == "secret" || n == "xauth-password",
			Desc: "RouterOS 6 peer property; an identity of the peer is made with it."})
	}
	for _, n := range IPsecPeerV6Profile {
		out = append(out, Prop{Name: n, Type: value.String(), V6: Console(IPsecProfilePath),
			Desc: "RouterOS 6 peer property; a profile of the peer is made with it."})
	}
	return out
}
