package ike

// Base mode (draft-ietf-ipsec-ike-base-mode; RFC 2408 4.4) with signatures:
// digital-signature (RSA or ECDSA certificates) and rsa-key. The exchange is
//
//	HDR, SA, Nonce, ID, [CERTREQ]  -->
//	                               <--  HDR, SA, Nonce, ID, [CERTREQ]
//	HDR, KE, [CERT,] SIG_I         -->
//	                               <--  HDR, KE, [CERT,] SIG_R
//
// SIG_I comes before the initiator knows g^xr, so the hashes cannot be keyed with
// SKEYID; as racoon (RouterOS's IKEv1 daemon) does, they are keyed with a hash of the
// nonces:
//
//	HASH_I = prf(hash(Nr_b | Ni_b), g^xi | CKY-I | CKY-R | SAi_b | IDii_b)
//	HASH_R = prf(hash(Ni_b | Nr_b), g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
//
// (racoon orders the nonces of HASH_I responder first, whatever its comment says).
// hash and prf are the negotiated hash, or under ECDSA (RFC 4754) the curve's.
// SKEYID = prf(Ni_b | Nr_b, g^xy) as for signatures in the other modes.

// v1BaseSigHash is HASH_I (ofInitiator) or HASH_R of base mode with signatures.
func (sa *IKESA) v1BaseSigHash(ofInitiator bool) []byte {
	v := sa.v1
	h := v.p1.hash
	if e := v1ECDSAPRF(v.p1.auth); e != nil {
		h = e
	}
	seed := func(a, b []byte) []byte {
		m := h.New()
		m.Write(a)
		m.Write(b)
		return m.Sum(nil)
	}
	ci, cr := spi64(sa.spiI), spi64(sa.spiR)
	if ofInitiator {
		return h.Sum(seed(sa.nr, sa.ni), v.gxi, ci, cr, v.saiB, v.idiB)
	}
	return h.Sum(seed(sa.ni, sa.nr), v.gxi, v.gxr, ci, cr, v.saiB, v.idiB)
}

// v1AuthHash is what a side's HASH or SIG covers: the base mode signature hash, or
// HASH_I/HASH_R of RFC 2409 5.
func (sa *IKESA) v1AuthHash(ofInitiator bool) []byte {
	if sa.v1.mode == v1ExchBase && v1SigAuth(sa.v1.p1.auth) {
		return sa.v1BaseSigHash(ofInitiator)
	}
	return sa.v1HashAuth(ofInitiator)
}
