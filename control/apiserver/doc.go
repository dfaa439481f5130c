// Package apiserver serves the RouterOS API (services api and api-ssl): sentences read
// with control/api's word codec, /login (plain name and password; the legacy md5
// challenge is answered but cannot be verified against hashed passwords), then every
// command through api.Exec and the one executor, with .tag, .proplist, queries,
// concurrent tagged commands, /cancel and listen.
package apiserver
