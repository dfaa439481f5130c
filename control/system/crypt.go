package system

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// encryptedHeader starts a backup saved with password=: the rest of the file is
//
//	salt (16) | iv (16) | AES-256-CTR ciphertext of the plain backup | HMAC-SHA256 (32)
//
// with both keys from PBKDF2-HMAC-SHA256 of the password and salt, the MAC over
// everything before it: RouterOS's aes-sha256 scheme (AES-CTR with a SHA-256 MAC),
// in a layout of our own.
const encryptedHeader = "# routerd backup aes-sha256\n"

// kdfRounds is PBKDF2's iteration count: about a tenth of a second per save or load.
const kdfRounds = 200_000

var errDecrypt = errors.New("wrong password or damaged backup")

func backupKeys(password string, salt []byte) (enc, mac []byte, err error) {
	k, err := pbkdf2.Key(sha256.New, password, salt, kdfRounds, 64)
	if err != nil {
		return nil, nil, err
	}
	return k[:32], k[32:], nil
}

// encryptBackup seals a plain backup with password.
func encryptBackup(plain []byte, password string) ([]byte, error) {
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	rand.Read(salt)
	rand.Read(iv)
	ek, mk, err := backupKeys(password, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, err
	}
	out := append([]byte(encryptedHeader), salt...)
	out = append(out, iv...)
	start := len(out)
	out = append(out, make([]byte, len(plain))...)
	cipher.NewCTR(block, iv).XORKeyStream(out[start:], plain)
	m := hmac.New(sha256.New, mk)
	m.Write(out)
	return m.Sum(out), nil
}

// decryptBackup opens a backup sealed by encryptBackup; a wrong password or any
// changed byte is errDecrypt, checked before anything is decrypted.
func decryptBackup(data []byte, password string) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(encryptedHeader)) {
		return nil, errDecrypt
	}
	body := data[len(encryptedHeader):]
	if len(body) < 16+aes.BlockSize+sha256.Size {
		return nil, errDecrypt
	}
	salt, iv := body[:16], body[16:16+aes.BlockSize]
	ct := body[16+aes.BlockSize : len(body)-sha256.Size]
	ek, mk, err := backupKeys(password, salt)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, mk)
	m.Write(data[:len(data)-sha256.Size])
	if !hmac.Equal(m.Sum(nil), data[len(data)-sha256.Size:]) {
		return nil, errDecrypt
	}
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(block, iv).XORKeyStream(plain, ct)
	return plain, nil
}
