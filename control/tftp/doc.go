// Package tftp is the TFTP server behind /ip tftp and /ip tftp settings: RFC 1350 read
// and write requests in octet and netascii modes, with the option extension (RFC 2347),
// blksize (RFC 2348), timeout and tsize (RFC 2349) and windowsize (RFC 7440).
//
// Access follows the /ip tftp rules in their order; the first rule whose ip-addresses
// hold the client and whose req-filename regular expression (POSIX, unanchored) matches
// the requested name decides. real-filename names the file served instead, optionally
// followed by \N group numbers that must have taken part in the match (the reference's
// "filename\0\5\6"). With no enabled rule the server does not listen at all.
//
// Files live under the data dir's files/ folder and are opened through os.Root, so
// neither ".." nor a symbolic link reaches outside it. A write goes to a temporary file
// that replaces the target only when the transfer completes, so a failed or hostile
// transfer changes nothing.
package tftp
