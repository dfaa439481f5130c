// Package user applies /user, /user group and /user ssh-keys: passwords become salted
// argon2id hashes before they reach the store, the first start creates admin with a
// random password, and Auth checks logins for every remote service (api, ssh, telnet,
// ftp, www) with failed-login rate limiting and logging.
//
// Passwords are write-only. The password property is never stored: add and set turn it
// into the sensitive password-hash property. print and export never show a password;
// the hash appears only with show-sensitive (export writes password-hash=...), and
// import accepts password-hash, so a show-sensitive export restores users with their
// passwords while no plain password is ever written anywhere.
package user
