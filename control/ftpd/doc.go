// Package ftpd is the ftp service: a minimal FTP server (RFC 959, with EPSV of RFC 2428
// and SIZE of RFC 3659) over the data dir's files/ folder, where backups, scripts and
// the TFTP root live. Logins are checked by /user (user.Auth, which requires the ftp
// policy); every path is resolved inside files/ through os.Root, so neither ".." nor a
// symbolic link reaches outside it. Only passive data connections are offered, and a
// data connection is accepted only from the control connection's address.
package ftpd
