package ike

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
	"strings"
	"time"

	"github.com/routerd/routerd/eap"
)

// Identity is an IKE identification as it travels in IDi/IDr.
type Identity struct {
	Type IDType
	Data []byte
}

// String writes an identity the way RouterOS's my-id/remote-id take it; "" for none
// yet (an SA whose peer has not said who it is).
func (id Identity) String() string {
	switch id.Type {
	case 0:
		return ""
	case IDIPv4, IDIPv6:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return "address:" + a.String()
		}
	case IDFQDN:
		return "fqdn:" + string(id.Data)
	case IDRFC822:
		return "user-fqdn:" + string(id.Data)
	case IDKeyID:
		return "key-id:" + string(id.Data)
	case IDDERASNDN:
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(id.Data, &seq); err == nil && len(rest) == 0 {
			return "dn:" + seq.String()
		}
		return "dn:(der)"
	}
	return "id-type-" + string(rune('0'+id.Type))
}

// Equal compares type and data.
func (id Identity) Equal(o Identity) bool { return id.Type == o.Type && bytes.Equal(id.Data, o.Data) }

// ParseIdentity reads RouterOS's "fqdn:x", "address:1.2.3.4", "user-fqdn:a@b", "key-id:k",
// "dn:CN=x,O=y" (dnid.go).
func ParseIdentity(s string) (Identity, bool) {
	kind, v, ok := strings.Cut(s, ":")
	if !ok {
		return Identity{}, false
	}
	switch kind {
	case "address":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return Identity{}, false
		}
		return AddrIdentity(a), true
	case "fqdn":
		return Identity{IDFQDN, []byte(v)}, true
	case "user-fqdn":
		return Identity{IDRFC822, []byte(v)}, true
	case "key-id":
		return Identity{IDKeyID, []byte(v)}, true
	case "dn":
		der, err := ParseDN(v)
		if err != nil {
			return Identity{}, false
		}
		return Identity{IDDERASNDN, der}, true
	}
	return Identity{}, false
}

// AddrIdentity is the ID_IPV4_ADDR/ID_IPV6_ADDR identity of an address.
func AddrIdentity(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return Identity{IDIPv4, b[:]}
	}
	b := a.As16()
	return Identity{IDIPv6, b[:]}
}

// IDSpec is my-id or remote-id: Auto (the local address, or anything from the peer),
// Ignore (remote-id only: not checked), or a fixed identity.
type IDSpec struct {
	Auto, Ignore bool
	ID           Identity
}

// AuthMethodKind is how a side authenticates; only pre-shared keys are implemented yet,
// the certificate and EAP issues add theirs here.
type AuthMethodKind string

// Authentication methods of /ip ipsec identity.
const (
	AuthMethodPSK AuthMethodKind = "pre-shared-key"
	// AuthMethodEAP: this side (initiator) authenticates with EAP (EAPUser, EAPPassword).
	AuthMethodEAP AuthMethodKind = "eap"
	// AuthMethodEAPRadius: the peer authenticates with EAP relayed to RADIUS (responder).
	AuthMethodEAPRadius AuthMethodKind = "eap-radius"
	// AuthMethodPSKXAuth: IKEv1 pre-shared key plus XAuth; the initiator is the XAuth
	// client (EAPUser, EAPPassword: the identity's username and password), the
	// responder the server (XAuthUsers: /ip ipsec user).
	AuthMethodPSKXAuth AuthMethodKind = "pre-shared-key-xauth"
)

// IdentityConfig is one /ip ipsec identity: how to authenticate with a peer.
type IdentityConfig struct {
	Name     string
	Method   AuthMethodKind
	PSK      []byte
	MyID     IDSpec
	RemoteID IDSpec
	// GeneratePolicy: "no", "port-override" or "port-strict".
	GeneratePolicy string
	// Templates are the policy templates of policy-template-group, checked when the
	// peer proposes selectors no policy covers and GeneratePolicy is not "no".
	Templates []*ChildConfig
	// ModeConfig, when set, hands out (responder) or asks for (initiator) an address
	// and networks with the configuration payload (RFC 7296 3.15).
	ModeConfig *ModeConfig
	// EAPUser and EAPPassword are the credentials of auth-method=eap (eap-mschapv2)
	// and of an XAuth client (pre-shared-key-xauth).
	EAPUser, EAPPassword string
	// EAPMethods are eap-methods of auth-method=eap (empty: EAP-MSCHAPv2); EAP-TLS
	// authenticates with Cert, and the TLS-based methods verify the server with Verifier.
	EAPMethods []eap.Type
	// Cert, when set, is what this side signs AUTH with (digital-signature; also the
	// responder's own AUTH of eap-radius).
	Cert *Credential
	// Verifier checks the peer's certificates (digital-signature).
	Verifier CertVerifier
	// RemoteCert is remote-certificate: the peer's certificate (it need not send it);
	// with MatchByCert (match-by=certificate) the identity applies only to a peer
	// presenting exactly it.
	RemoteCert  *x509.Certificate
	MatchByCert bool
	// RemoteKey is remote-key: the peer's public key (rsa-key).
	RemoteKey crypto.PublicKey
	// XAuthUsers looks up an XAuth user (/ip ipsec user): its password and the address
	// mode config gives it (invalid: from the mode config).
	XAuthUsers func(name string) (password string, addr netip.Addr, ok bool)
	// XAuthCheck, when set, checks an XAuth login XAuthUsers does not know (RADIUS:
	// /ip ipsec settings xauth-use-radius=yes); see xauthradius.go.
	XAuthCheck XAuthChecker
}

// ModeConfig is one /ip ipsec mode-config.
type ModeConfig struct {
	Name      string
	Responder bool
	// Address is the single address handed out; Allocate, when set, picks one from a pool
	// for who (the peer's identity, shown in /ip pool used); the release function gives
	// it back.
	Address   netip.Addr
	Allocate  func(who string) (netip.Addr, func(), error)
	PrefixLen int
	Split     []netip.Prefix
	DNS       []netip.Addr
	// SplitDNS is split-dns: the domains resolved with DNS; sent (responder only, as
	// RouterOS does) to a peer asking for Cisco Unity's split DNS and default domain
	// (IKEv1) or INTERNAL_DNS_DOMAIN (RFC 8598, IKEv2).
	SplitDNS []string
}

// ChildConfig is one policy the peer's CHILD_SAs protect.
type ChildConfig struct {
	// ID identifies the policy (the engine's item id); ReqID the datapath's link.
	ID    uint64
	ReqID uint32
	// Local and Remote are the selectors as seen from this router (policy src/dst).
	Local, Remote Selector
	Tunnel        bool
	Proposals     []Proposal // ESP proposals (with the PFS group as a DH transform)
	Lifetime      time.Duration
	Lifebytes     uint64
	// Dynamic is set on policies generated from a template.
	Dynamic bool
	// AnyFamily marks a template whose ::/0 side stands for every address of either
	// family (RouterOS's default template, src-address=::/0 dst-address=::/0) and the
	// IPv4 twin made of it: an initiator generating policies proposes only the one of
	// its tunnel's family, where the other is refused (TS_UNACCEPTABLE).
	AnyFamily bool
	// OnTraffic is level=use: after installed-sa flush the side that set the IKE SA up
	// negotiates the CHILD_SA again when traffic asks for it (acquire), where
	// require and unique have it negotiated at once, as RouterOS does.
	OnTraffic bool
}

// ExchangeMode is a peer's exchange-mode: IKEv2 (the zero value) or one of the IKEv1
// Phase 1 exchanges.
type ExchangeMode uint8

// Exchange modes of /ip ipsec peer.
const (
	ExchangeIKEv2 ExchangeMode = iota
	ExchangeMain
	ExchangeAggressive
	ExchangeBase
)

// PeerConfig is one /ip ipsec peer with its profile, identities and policies.
type PeerConfig struct {
	Name string
	// Exchange selects IKEv2 or an IKEv1 Phase 1 exchange (ikev1*.go).
	Exchange ExchangeMode
	// ProposalCheck is the profile's proposal-check (IKEv1 Phase 2 lifetimes as
	// responder): "obey" (default), "claim", "strict" or "exact".
	ProposalCheck string
	// Lifebytes is the profile's lifebytes, sent in IKEv1 Phase 1 proposals.
	Lifebytes uint64
	// Remote is the address prefix of the peer (most specific wins when responding).
	Remote netip.Prefix
	// Local binds phase 1 to one local address (invalid: any).
	Local netip.Addr
	Port  uint16
	// Passive peers never initiate.
	Passive            bool
	SendInitialContact bool
	Proposals          []Proposal // IKE proposals
	Lifetime           time.Duration
	DPDInterval        time.Duration // 0: DPD off
	DPDMaxFailures     int
	NATTraversal       bool // control/ipsec sets it for IKEv2 peers whatever the profile says (the reference)
	// SkipPeerIDCheck is compatibility-options=skip-peer-id-check: in IKEv1, with
	// remote-id=auto, an address ID that is not the peer's address is accepted (a peer
	// behind a NAT the detection missed, or one sending its inside address).
	SkipPeerIDCheck bool
	Identities      []*IdentityConfig
	Children        []*ChildConfig
}

// DefaultPeer returns the RouterOS defaults of a peer and its default profile.
func DefaultPeer() *PeerConfig {
	return &PeerConfig{
		Remote: netip.MustParsePrefix("0.0.0.0/0"), Port: 500, SendInitialContact: true,
		Lifetime: 24 * time.Hour, DPDInterval: 8 * time.Second, DPDMaxFailures: 4, NATTraversal: true,
	}
}

// host is the single address of Remote when it is one host.
func (p *PeerConfig) host() (netip.Addr, bool) {
	if p.Remote.IsValid() && p.Remote.Bits() == p.Remote.Addr().BitLen() {
		return p.Remote.Addr(), true
	}
	return netip.Addr{}, false
}

// ChildSA is a negotiated CHILD_SA pair, as IKE hands it to the data path.
type ChildSA struct {
	Peer   string
	Policy *ChildConfig
	ReqID  uint32
	// InSPI is ours (the peer sends with it); OutSPI the peer's.
	InSPI, OutSPI uint32
	// Local and Remote are the outer addresses; with Encap the UDP ports too (NAT-T).
	Local, Remote          netip.AddrPort
	Encap                  bool
	Tunnel                 bool
	Suite                  *Suite
	InEncKey, InIntegKey   []byte
	OutEncKey, OutIntegKey []byte
	// LocalTS and RemoteTS are the negotiated selectors seen from this router.
	LocalTS, RemoteTS []Selector
	Lifetime, Soft    time.Duration
	Lifebytes         uint64
	Added             time.Time
	Initiator         bool
	nonceI, nonceR    []byte
	rekeying          bool
	rekeyed           bool
	collision         *ChildSA
	outPending        bool      // outbound half not installed (rekeyswitch.go)
	waitFor           *ChildSA  // the SA whose removal installs it
	inEarly           bool      // inbound half installed before the exchange ended (ikev1_rekey.go)
	deleteAt          time.Time // a rekeyed SA no longer sent on: its delete goes then (rekeydelete.go)
	// Refused rekeys back off (childretry.go); softHit: a soft lifetime (bytes) came
	// while backing off.
	rekeyRetry backoff
	softHit    bool
}

// Datapath installs CHILD_SAs; the ESP package (kernel XFRM or userspace) implements it
// through the engine's adapter. InputESP takes ESP-in-UDP read from port 4500.
type Datapath interface {
	InstallChild(c *ChildSA) error
	RemoveChild(c *ChildSA) error
	InputESP(b []byte, src, dst netip.AddrPort)
}

// ESPBatchInput is a Datapath that takes the ESP of one read of a port 4500 socket at
// once (n packets, the i-th from at(i)), so that it can write what they carry into its
// device together; the buffers are the reader's until the call returns and may be
// changed in place.
type ESPBatchInput interface {
	InputESPBatch(n int, at func(i int) (b []byte, src, dst netip.AddrPort))
}
