// Package api implements the wire format of the RouterOS API (TCP 8728, and
// 8729 under TLS): length-prefixed words grouped into sentences, plus the
// split of a request sentence into command, attributes, API attributes and
// queries.
//
// The package knows nothing about menus or execution; the API server, the
// routerctl socket and the REST mapper all feed sentences through it to the
// one executor, so its job is only to be exact about framing and strict
// about untrusted input.
package api
