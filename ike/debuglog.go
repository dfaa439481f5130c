package ike

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// What the daemon logs at debug (/system logging topics=ipsec,debug), as RouterOS's
// ipsec,debug shows an exchange: every IKE message sent and received with its exchange,
// message ID and payload list (notifications by name), the proposals chosen, the traffic
// selectors, DPD. Only payload types, notification names, algorithm names and
// addresses are written: never keys, nonces, KE data, AUTH or identities' secrets. The
// summaries are built only when a debug rule is on.

// debugOn reports whether debug records go anywhere.
func (d *Daemon) debugOn() bool { return d.log.Enabled(context.Background(), slog.LevelDebug) }

// payloadsString lists payload types as charon and RouterOS print them:
// "[ SA KE No N(NAT_DETECTION_SOURCE_IP) ]".
func payloadsString(ps []Payload) string {
	var b strings.Builder
	b.WriteString("[")
	for _, p := range ps {
		b.WriteString(" ")
		switch x := p.(type) {
		case *Notify:
			b.WriteString("N(" + notifyFullName(x.NType) + ")")
		case *TS:
			if x.Responder {
				b.WriteString("TSr")
			} else {
				b.WriteString("TSi")
			}
		case *CP:
			b.WriteString(fmt.Sprintf("CP(%d)", x.CfgType))
		default:
			b.WriteString(payloadName(p.Type()))
		}
	}
	b.WriteString(" ]")
	return b.String()
}

func payloadName(t PayloadType) string {
	switch t {
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "No"
	case PayloadDelete:
		return "D"
	case PayloadVendor:
		return "V"
	case PayloadEAP:
		return "EAP"
	case PayloadSK:
		return "SK"
	case PayloadSKF:
		return "SKF"
	}
	return fmt.Sprintf("payload-%d", t)
}

// notifyFullName names error and status notifications (RFC 7296 3.10.1 and later RFCs).
func notifyFullName(t NotifyType) string {
	switch t {
	case NotifyInvalidIKESPI:
		return "INVALID_IKE_SPI"
	case NotifyInvalidMajorVersion:
		return "INVALID_MAJOR_VERSION"
	case NotifyInvalidMessageID:
		return "INVALID_MESSAGE_ID"
	case NotifyInvalidSPI:
		return "INVALID_SPI"
	case NotifyNoAdditionalSAs:
		return "NO_ADDITIONAL_SAS"
	case NotifyInvalidSelectors:
		return "INVALID_SELECTORS"
	case NotifyInitialContact:
		return "INITIAL_CONTACT"
	case NotifySetWindowSize:
		return "SET_WINDOW_SIZE"
	case NotifyAdditionalTSPossible:
		return "ADDITIONAL_TS_POSSIBLE"
	case NotifyIPCompSupported:
		return "IPCOMP_SUPPORTED"
	case NotifyNATDetectionSourceIP:
		return "NAT_DETECTION_SOURCE_IP"
	case NotifyNATDetectionDestIP:
		return "NAT_DETECTION_DESTINATION_IP"
	case NotifyCookie:
		return "COOKIE"
	case NotifyUseTransportMode:
		return "USE_TRANSPORT_MODE"
	case NotifyHTTPCertLookupSupported:
		return "HTTP_CERT_LOOKUP_SUPPORTED"
	case NotifyRekeySA:
		return "REKEY_SA"
	case NotifyESPTFCPaddingNotSupp:
		return "ESP_TFC_PADDING_NOT_SUPPORTED"
	case NotifyNonFirstFragmentsAlso:
		return "NON_FIRST_FRAGMENTS_ALSO"
	case NotifyMobikeSupported:
		return "MOBIKE_SUPPORTED"
	case NotifyMultipleAuthSupported:
		return "MULTIPLE_AUTH_SUPPORTED"
	case NotifyRedirectSupported:
		return "REDIRECT_SUPPORTED"
	case NotifyEAPOnlyAuthentication:
		return "EAP_ONLY_AUTHENTICATION"
	case NotifyIKEv2FragmentationSupp:
		return "IKEV2_FRAGMENTATION_SUPPORTED"
	case NotifySignatureHashAlgorithms:
		return "SIGNATURE_HASH_ALGORITHMS"
	}
	if n := notifyName(t); !strings.HasPrefix(n, "notify ") {
		return n
	}
	return fmt.Sprintf("%d", t)
}

// logMessage writes one IKE message sent or received at debug: "ipsec: sending
// IKE_AUTH request 1" with its payloads.
func (d *Daemon) logMessage(dir string, exch ExchangeType, resp bool, msgID uint32, ps []Payload, peer string, local, remote netip.AddrPort) {
	if !d.debugOn() {
		return
	}
	kind := "request"
	if resp {
		kind = "response"
	}
	d.log.Debug(fmt.Sprintf("ipsec: %s %s %s %d %s", dir, exch, kind, msgID, payloadsString(ps)),
		"peer", peer, "local", local, "remote", remote)
}

// logChosen writes a chosen proposal at debug (what = "IKE SA" or "CHILD SA").
func (d *Daemon) logChosen(what, peer string, p *Proposal) {
	if !d.debugOn() || p == nil {
		return
	}
	d.log.Debug("ipsec: "+what+" proposal chosen", "peer", peer, "proposal", proposalsString([]Proposal{*p}))
}
