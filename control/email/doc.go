// Package email implements /tool e-mail: the SMTP server settings and the send command
// (to, cc, subject, body, file attachments from the data dir's files/ folder), sent by a
// real SMTP client (RFC 5321) with implicit TLS (tls=yes), STARTTLS (RFC 3207,
// tls=starttls) and AUTH PLAIN (RFC 4616) or LOGIN. Messages are MIME (RFC 2045/2046)
// with base64 attachments. As in RouterOS, send returns at once and the delivery's
// outcome goes to /log and the menu's last-status; credentials never reach the log.
package email
