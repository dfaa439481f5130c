// Package rest serves the www and www-ssl services: the RouterOS v7 REST API under /rest/
// and a small read-only status page at /.
//
// REST is a JSON wrapper of the API: each HTTP request becomes one API request
// (package api) and runs through the one executor, so menus, validation, policies and
// queries behave as they do over the API and the console. GET prints (a whole menu, or
// one item by .id or name), PUT adds and answers with the new item, PATCH sets, DELETE
// removes, and POST runs any command of the menu with a JSON object of arguments
// (".proplist" and ".query" included). Every request carries HTTP Basic credentials;
// values in replies are strings, booleans true/false. Errors are
// {"error":N,"message":"<HTTP status text>","detail":"<RouterOS message>"} with status
// 400, 401, 404 or 500.
//
// POST /rest/execute {"script":"..."} is RouterOS 7's :execute: it answers {"ret":"*N"}
// at once and the job runs on, with the user's policies, for at most JobLimit (a
// request is a login of its own, and other logins' jobs end with them); with
// "as-string" it waits and answers the script's output as ret.
//
// The status page renders the rows of the interface, tunnel, IPsec and PTP menus that
// exist in the tree, server-side, without scripts.
package rest
