// Package certificate applies /certificate, /certificate crl and /certificate settings
// (RouterOS's System/Certificates): templates made with add become certificates with
// sign (self-signed, or by a CA here, with its CRL distribution point from ca-crl-host);
// import reads PEM, DER and PKCS#12 files from /file (chains, and keys matched to the
// certificates by their public key); export-certificate writes PEM (.crt, and the key
// as an encrypted PKCS#8 .key) or PKCS#12 (.p12) files under the data dir's files/,
// 0600; issued-revoke revokes what a local CA issued and reissues that CA's CRL. The www
// service publishes each local CA's CRL at its distribution point /crl/SERIAL.crl
// (Store.PublishedCRL: issued-revoke's list, or a signed empty one before it).
//
// Private keys live in the store as a Secret property (never printed, exported or
// logged; carried only by backups, in the 0600 store file and 0600 backup files), and
// leave the router only in a file encrypted with export-passphrase. enable-ssl-certificate
// (ACME) answers that this box has no ACME reachability.
//
// Other engines use the certificates through *Store, offered with engine.Offer: the
// IPsec engine signs IKE AUTH payloads with a certificate's key and verifies peers'
// chains against the trusted authorities here and, with crl-use=yes, the CRLs here.
//
// Not covered: SCEP (sign-via-scep, scep-server), smart cards (the C flag is never
// set), OCSP, certificate requests (create-certificate-request), and ACME.
package certificate
