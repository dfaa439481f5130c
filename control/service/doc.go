// Package service applies /ip service: one TCP listener per enabled service on its
// port, restarted when the service is set, marked invalid with the reason when it
// cannot listen (port taken, certificate missing), with the address list and
// max-sessions enforced on each connection before any protocol byte is read (of which
// connections from one address, IPv6 by /64, that have not logged in yet hold at most
// half: protocols call LoggedIn), and TLS
// (the named certificate, or a self-signed one generated on first start) for api-ssl
// and www-ssl.
//
// Protocols plug in by name (Manager.Register): a Protocol serves one listener until
// the listener is closed, and never sees a connection the service's settings refuse.
package service
