package ike

import (
	"bytes"
	"crypto"
	"crypto/x509"
)

// identityChange names what of an identity's authentication changed between the
// configuration an IKE SA was authenticated with (was) and the new one (now), or
// returns "". Such an SA is deleted (RouterOS re-creates a peer whose identity changed
// and kills its SAs): a rotated pre-shared key must stop the clients that only know the
// old one, not wait for their next reauthentication.
func identityChange(was, now *IdentityConfig) string {
	switch {
	case was.Method != now.Method:
		return "auth-method"
	case !bytes.Equal(was.PSK, now.PSK):
		return "secret"
	case !sameIDSpec(was.MyID, now.MyID):
		return "my-id"
	case !sameIDSpec(was.RemoteID, now.RemoteID):
		return "remote-id"
	case was.EAPUser != now.EAPUser || was.EAPPassword != now.EAPPassword:
		return "username/password"
	case !sameCert(leaf(was.Cert), leaf(now.Cert)):
		return "certificate"
	case !sameCert(was.RemoteCert, now.RemoteCert) || was.MatchByCert != now.MatchByCert:
		return "remote-certificate"
	case !sameKey(was.RemoteKey, now.RemoteKey):
		return "remote-key"
	case modeConfigName(was) != modeConfigName(now):
		return "mode-config"
	}
	return ""
}

func sameIDSpec(a, b IDSpec) bool {
	return a.Auto == b.Auto && a.Ignore == b.Ignore && a.ID.Equal(b.ID)
}

func leaf(c *Credential) *x509.Certificate {
	if c == nil || len(c.Chain) == 0 {
		return nil
	}
	return c.Chain[0]
}

func sameCert(a, b *x509.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Raw, b.Raw)
}

func sameKey(a, b crypto.PublicKey) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func modeConfigName(ic *IdentityConfig) string {
	if ic.ModeConfig == nil {
		return ""
	}
	return "\x00" + ic.ModeConfig.Name
}
