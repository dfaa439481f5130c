package menu

import (
	"github.com/routerd/routerd/control/value"
)

// Certificate flags as RouterOS prints them (K private key, L CRL, C smart card,
// A authority, I issued, R revoked, E expired, T trusted), decided by the read-only
// property of the same name.
var (
	flagPrivateKey = Flag{'K', "private-key"}
	flagCRL        = Flag{'L', "crl"}
	flagSmartCard  = Flag{'C', "smart-card-key"}
	flagAuthority  = Flag{'A', "authority"}
	flagIssued     = Flag{'I', "issued"}
	flagRevoked    = Flag{'R', "revoked"}
	flagExpired    = Flag{'E', "expired"}
	flagTrusted    = Flag{'T', "trusted"}
)

// CertKeyUsages are the key-usage words of /certificate: X.509 key usages and
// extended key usages in one list, as RouterOS has them.
var CertKeyUsages = []string{"digital-signature", "content-commitment", "key-encipherment",
	"data-encipherment", "key-agreement", "key-cert-sign", "crl-sign", "encipher-only",
	"decipher-only", "tls-server", "tls-client", "code-sign", "email-protect", "timestamp",
	"ocsp-sign", "ipsec-end-system", "ipsec-tunnel", "ipsec-user", "ipsec-ike"}

// certificateMenus declares /certificate after RouterOS's System/Certificates manual
// page: templates made with add become certificates with sign or import. Certificates
// are not in /export (RouterOS leaves them out too); a backup carries them, keys
// included, through the two Secret properties.
func certificateMenus() []*Menu {
	ro := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.String(), ReadOnly: true, Desc: desc}
	}
	yn := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.Bool(), ReadOnly: true, Desc: desc}
	}
	return []*Menu{
		{
			Path: CertificatePath,
			Kind: List,
			Desc: "Certificates, certificate templates and their private keys.",
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true,
					Desc: "Name of the certificate or template."},
				{Name: "common-name", Type: value.String(), Desc: "Common name (CN) of the subject."},
				{Name: "country", Type: value.String(), Desc: "Country (C) of the subject, two letters."},
				{Name: "state", Type: value.String(), Desc: "State or province (ST) of the subject."},
				{Name: "locality", Type: value.String(), Desc: "Locality (L) of the subject."},
				{Name: "organization", Type: value.String(), Desc: "Organization (O) of the subject."},
				{Name: "unit", Type: value.String(), Desc: "Organizational unit (OU) of the subject."},
				{Name: "subject-alt-name", Type: value.String(),
					Desc: "Subject alternative names: a comma list of DNS:name, IP:address and email:address."},
				{Name: "key-type", Type: value.Enum("rsa", "ec"), Default: "rsa",
					Desc: "Type of the key the template generates when signed."},
				{Name: "key-size", Type: value.Enum("1024", "1536", "2048", "4096", "8192", "prime256v1", "secp384r1", "secp521r1"),
					Default: "2048", Desc: "RSA key size in bits, or the curve of an EC key."},
				{Name: "days-valid", Type: value.Int(1, 36500), Default: "365",
					Desc: "How many days the certificate is valid from signing."},
				{Name: "digest-algorithm", Type: value.Enum("sha1", "sha256", "sha384", "sha512"), Default: "sha256",
					Desc: "Hash of the signature the signer makes."},
				{Name: "key-usage", Type: value.EnumList(CertKeyUsages...),
					Desc: "Key usages and extended key usages; empty means RouterOS's default set (digital-signature, key-encipherment, data-encipherment, key-cert-sign, crl-sign, tls-server, tls-client)."},
				{Name: "trusted", Type: value.Bool(), Default: "no",
					Desc: "Trust the certificate as an anchor when verifying peers' chains."},
				// The DER of the certificate and the PKCS#8 DER of its key, base64: never
				// printed, exported or logged; a backup alone carries them.
				{Name: "certificate-der", Type: value.String(), Secret: true,
					Desc: "The certificate (DER, base64); set by sign and import, carried by backups."},
				{Name: "private-key-der", Type: value.String(), Secret: true,
					Desc: "The private key (PKCS#8 DER, base64); set by sign and import, carried by backups."},
				{Name: "ca-crl-host", Type: value.String(), Desc: "Host of the CRL distribution point a CA writes in what it signs."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the certificate."},
				ro("issuer", "Distinguished name of the issuer."),
				ro("ca", "Name of the local certificate that signed this one."),
				ro("serial-number", "Serial number (hexadecimal)."),
				ro("fingerprint", "SHA-256 of the certificate."),
				ro("akid", "Authority key identifier."),
				ro("skid", "Subject key identifier."),
				ro("invalid-before", "Start of the validity period."),
				ro("invalid-after", "End of the validity period."),
				ro("expires-after", "Time left until invalid-after."),
				ro("ca-fingerprint", "Fingerprint of the issuer's certificate, when it is here."),
				ro("revoked-time", "When issued-revoke revoked it."),
				yn("private-key", "The private key is here."),
				yn("crl", "A CRL of this authority is here."),
				yn("smart-card-key", "The key is on a smart card (never here)."),
				yn("authority", "The certificate is a CA."),
				yn("issued", "Issued by a CA of this router."),
				yn("revoked", "Revoked by its CA (issued-revoke, or listed in a CRL here)."),
				yn("expired", "Past invalid-after."),
			},
			Flags:    []Flag{flagPrivateKey, flagCRL, flagSmartCard, flagAuthority, flagIssued, flagRevoked, flagExpired, flagTrusted},
			Commands: []string{"sign", "import", "export-certificate", "issued-revoke", "enable-ssl-certificate"},
			Columns:  []string{"name", "common-name", "subject-alt-name", "fingerprint"},
			// RouterOS's /export leaves certificates out; a backup keeps them.
			BackupOnly: true,
		},
		{
			Path: CertificateCRLPath,
			Kind: List,
			Desc: "Certificate revocation lists: downloaded from the CAs' distribution points, imported, or kept by this router's CAs.",
			Props: []Prop{
				{Name: "url", Type: value.String(), Desc: "Where the CRL is downloaded from."},
				{Name: "crl-der", Type: value.String(), Secret: true,
					Desc: "The CRL (DER, base64), carried by backups."},
				{Name: "comment", Type: value.String(), Desc: "Short description."},
				ro("issuer", "Distinguished name of the CA that signed the list."),
				ro("fingerprint", "SHA-256 of the list."),
				ro("this-update", "When the list was made."),
				ro("next-update", "When the next list is due."),
				ro("last-update", "When routerd last loaded it."),
				ro("revoked", "Serial numbers the list revokes."),
			},
			Flags:      []Flag{FlagInvalid, FlagDynamic},
			Columns:    []string{"url", "issuer", "next-update"},
			BackupOnly: true,
		},
		{
			Path: CertificateSettingsPath,
			Kind: Single,
			Desc: "Certificate revocation checking.",
			Props: []Prop{
				{Name: "crl-use", Type: value.Bool(), Default: "no",
					Desc: "Refuse certificates a CRL here revokes."},
				{Name: "builtin-trust-store", Type: value.String(), Default: "default",
					NoEffect: "routerd trusts only the certificates of /certificate marked trusted",
					Desc:     "RouterOS's built-in root CA bundle and what it is used for."},
				{Name: "crl-download", Type: value.Bool(), Default: "no",
					Desc: "Download CRLs from the distribution points of the certificates here."},
				{Name: "crl-store", Type: value.Enum("ram", "system"), Default: "ram",
					Desc: "Keep downloaded CRLs in memory only (ram) or in the configuration (system)."},
			},
		},
	}
}
