// Package sshd is the ssh service: golang.org/x/crypto/ssh with password and public-key
// logins checked by /user (user.Auth), an ed25519 host key generated on first start and
// kept in the data dir, and per session channel either the interactive console (shell,
// with a pty: prompt, line editing, history, Tab completion, window size) or one command
// (exec), both running with the user's policies. Port forwarding and subsystems (sftp)
// are refused.
package sshd
