// Package telnet is the telnet service: the same interactive console as ssh (package
// terminal) over a telnet connection, after a Login:/Password: exchange checked by /user
// (user.Auth). The server negotiates character mode (WILL ECHO, WILL SUPPRESS-GO-AHEAD)
// and the window size (DO NAWS); Decoder handles the option negotiation of RFC 854/855
// and refuses every other option.
package telnet
