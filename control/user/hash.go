package user

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Hash parameters: argon2id as OWASP recommends for interactive logins (19 MiB, 2
// passes). A hash records its own parameters, so they can grow without breaking
// stored hashes.
const (
	hashMemory  = 19 * 1024
	hashTime    = 2
	hashThreads = 1
	hashKeyLen  = 32
	saltLen     = 16
)

// ErrBadHash reports a password-hash value that is not one this package writes.
var ErrBadHash = errors.New("not a routerd password hash")

var b64 = base64.RawStdEncoding

// HashPassword returns the salted hash of password in the PHC string form
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, hashTime, hashMemory, hashThreads, hashKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, hashMemory,
		hashTime, hashThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type hashParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseHash reads a hash string, refusing parameters that would make one login cost
// more than a few hundred MiB or seconds: an imported hash is untrusted input.
func parseHash(h string) (hashParams, error) {
	var p hashParams
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, ErrBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, threads) != parts[3] {
		return p, ErrBadHash
	}
	if p.memory < 8 || p.memory > 256*1024 || p.time < 1 || p.time > 16 || threads < 1 || threads > 16 {
		return p, ErrBadHash
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return p, ErrBadHash
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, ErrBadHash
	}
	return p, nil
}

// CheckHash reports whether h is a well-formed hash.
func CheckHash(h string) error {
	_, err := parseHash(h)
	return err
}

// VerifyPassword reports whether password matches the hash h, in constant time.
func VerifyPassword(h, password string) bool {
	p, err := parseHash(h)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// dummyHash is verified against when the user does not exist, so that a login for an
// unknown name costs as long as one with a wrong password and names cannot be probed.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("routerd-no-such-user")
	return h
})
