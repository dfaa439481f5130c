package ipsec

import (
	"net/netip"
	"time"
)

// profileItem is an /ip ipsec profile as the engine applies it (engine.Decode).
type profileItem struct {
	Name          string        `prop:"name"`
	DHGroup       []string      `prop:"dh-group"`
	DPDInterval   string        `prop:"dpd-interval"` // disable-dpd or a duration
	DPDMax        int           `prop:"dpd-maximum-failures"`
	EncAlgorithm  []string      `prop:"enc-algorithm"`
	HashAlgorithm string        `prop:"hash-algorithm"`
	Lifebytes     uint64        `prop:"lifebytes"`
	Lifetime      time.Duration `prop:"lifetime"`
	NATTraversal  bool          `prop:"nat-traversal"`
	PRFAlgorithm  string        `prop:"prf-algorithm"`
	PPK           string        `prop:"ppk"`
	ProposalCheck string        `prop:"proposal-check"`
}

// proposalItem is an /ip ipsec proposal as the engine applies it.
type proposalItem struct {
	Name           string        `prop:"name"`
	Disabled       bool          `prop:"disabled"`
	AuthAlgorithms []string      `prop:"auth-algorithms"`
	EncAlgorithms  []string      `prop:"enc-algorithms"`
	Lifetime       time.Duration `prop:"lifetime"`
	PFSGroup       string        `prop:"pfs-group"`
}

// peerItem is an /ip ipsec peer as the engine applies it. The RouterOS 6 properties the
// menu also declares are turned into an identity and a profile when the line is read
// (package compat), so the engine never sees them.
type peerItem struct {
	Name                 string     `prop:"name"`
	Disabled             bool       `prop:"disabled"`
	Address              string     `prop:"address"` // a prefix, or a host name resolved through /ip dns
	ExchangeMode         string     `prop:"exchange-mode"`
	LocalAddress         netip.Addr `prop:"local-address"`
	Passive              bool       `prop:"passive"`
	Port                 uint16     `prop:"port"`
	Profile              string     `prop:"profile"`
	SendInitialContact   bool       `prop:"send-initial-contact"`
	CompatibilityOptions []string   `prop:"compatibility-options"`
}

// identityItem is an /ip ipsec identity as the engine applies it.
type identityItem struct {
	Peer                string   `prop:"peer"`
	Disabled            bool     `prop:"disabled"`
	AuthMethod          string   `prop:"auth-method"`
	Certificate         string   `prop:"certificate"`
	EAPMethods          []string `prop:"eap-methods"`
	GeneratePolicy      string   `prop:"generate-policy"`
	Key                 string   `prop:"key"`
	MatchBy             string   `prop:"match-by"`
	ModeConfig          string   `prop:"mode-config"`
	MyID                string   `prop:"my-id"`
	NotrackChain        string   `prop:"notrack-chain"`
	Password            string   `prop:"password"`
	PolicyTemplateGroup string   `prop:"policy-template-group"`
	RemoteCertificate   string   `prop:"remote-certificate"`
	RemoteID            string   `prop:"remote-id"`
	RemoteKey           string   `prop:"remote-key"`
	Secret              string   `prop:"secret"`
	Username            string   `prop:"username"`
}

// policyItem is an /ip ipsec policy as the engine applies it.
type policyItem struct {
	Peer       string       `prop:"peer"`
	Disabled   bool         `prop:"disabled"`
	Group      string       `prop:"group"`
	SrcAddress netip.Prefix `prop:"src-address"`
	SrcPort    string       `prop:"src-port"` // any or a number
	DstAddress netip.Prefix `prop:"dst-address"`
	DstPort    string       `prop:"dst-port"`
	Protocol   string       `prop:"protocol"` // a name or a number
	Action     string       `prop:"action"`
	Level      string       `prop:"level"`
	Tunnel     bool         `prop:"tunnel"`
	// The SA addresses a policy without a peer was given: shown until an SA says otherwise.
	SASrcAddress netip.Addr `prop:"sa-src-address"`
	SADstAddress netip.Addr `prop:"sa-dst-address"`
	Proposal     string     `prop:"proposal"`
	Template     bool       `prop:"template"`
}

// modeConfigItem is an /ip ipsec mode-config as the engine applies it.
type modeConfigItem struct {
	Name                string         `prop:"name"`
	Address             string         `prop:"address"` // none or an IPv4 address
	AddressPool         string         `prop:"address-pool"`
	AddressPrefixLength int            `prop:"address-prefix-length"`
	ConnectionMark      string         `prop:"connection-mark"`
	Responder           bool           `prop:"responder"`
	SplitDNS            []string       `prop:"split-dns"`
	SplitInclude        []netip.Prefix `prop:"split-include"`
	SrcAddressList      string         `prop:"src-address-list"`
	StaticDNS           []netip.Addr   `prop:"static-dns"`
	SystemDNS           bool           `prop:"system-dns"`
}

// userItem is an /ip ipsec user (XAuth) as the engine applies it.
type userItem struct {
	Name     string     `prop:"name"`
	Disabled bool       `prop:"disabled"`
	Password string     `prop:"password"`
	Address  netip.Addr `prop:"address"`
}

// TypedItems names the structs the engine decodes menus into (engine.Typed).
func TypedItems() map[string]any {
	return map[string]any{ProfilePath: profileItem{}, ProposalPath: proposalItem{}, PeerPath: peerItem{},
		IdentityPath: identityItem{}, PolicyPath: policyItem{}, ModeConfigPath: modeConfigItem{}, UserPath: userItem{}}
}

// TypedItems is TypedItems (engine.Typed).
func (e *Engine) TypedItems() map[string]any { return TypedItems() }
