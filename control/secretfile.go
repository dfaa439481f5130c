package control

import (
	"bytes"
	"strings"
)

// BackupHeader starts every unencrypted /system backup file (control/system writes it).
const BackupHeader = "# routerd backup\n"

// SecretFileHead is how much of a file SecretFile needs to see.
const SecretFileHead = 64 << 10

// SecretFile reports whether a file of files/ holds secrets that only a session with
// the sensitive policy may read: an unencrypted backup, a private key (PEM, encrypted
// or not: an export-passphrase only slows offline guessing) or a PKCS#12 bundle.
// head is the file's first SecretFileHead bytes (or all of it).
func SecretFile(name string, head []byte) bool {
	if bytes.HasPrefix(head, []byte(BackupHeader)) {
		return true
	}
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".p12"), strings.HasSuffix(n, ".pfx"):
		return true
	}
	// "-----BEGIN PRIVATE KEY-----", "... ENCRYPTED PRIVATE KEY", "RSA/EC PRIVATE KEY",
	// "OPENSSH PRIVATE KEY".
	return bytes.Contains(head, []byte("PRIVATE KEY-----"))
}
