package control

import (
	"bytes"
	"strings"
)

// BackupHeader starts every unencrypted /system backup file (control/system writes it).
const BackupHeader = "# routerd backup\n"

// SensitiveExportLine is the second line of an export written with show-sensitive: the
// file holds every secret of the menus exported, so reading it needs the sensitive policy
// (an export alone holds nothing a session without it may not read).
const SensitiveExportLine = "# show-sensitive: this export holds secrets\n"

// SecretFileHead is how much of a file SecretFile needs to see.
const SecretFileHead = 64 << 10

// SecretFile reports whether a file of files/ holds secrets that only a session with
// the sensitive policy may read: an unencrypted backup, a private key (PEM, encrypted
// or not: an export-passphrase only slows offline guessing), a PKCS#12 bundle or an
// export written with show-sensitive.
// head is the file's first SecretFileHead bytes (or all of it).
func SecretFile(name string, head []byte) bool {
	if bytes.HasPrefix(head, []byte(BackupHeader)) {
		return true
	}
	if _, rest, ok := bytes.Cut(head, []byte("\n")); ok && bytes.HasPrefix(rest, []byte(SensitiveExportLine)) {
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
