// Package console is the local console protocol between routerctl and routerd over the
// unix socket: newline-delimited JSON, one request at a time per connection.
//
// Requests:
//
//	{"op":"run","path":"/ip","src":"address print","interactive":true,"width":120}
//	{"op":"complete","path":"/ip","line":"address pr"}
//	{"op":"help","path":"/ip","line":"address add "}   (what `?` shows, in "out")
//	{"op":"identity"}
//	{"op":"cancel"}                  (while a run is in progress: interrupt it)
//
// A run answers with any number of {"out":"..."} messages as output is produced, then one
// {"done":true,"path":"/ip","error":"..."}; complete and identity answer with one done
// message carrying "words" or "identity". Each connection has one executor session, so
// print numbers persist for the life of an interactive routerctl. The socket is 0600 and
// root's, so the user is admin with access to secrets.
package console

// request is one client message.
type request struct {
	Op          string `json:"op"`
	Path        string `json:"path,omitempty"`
	Src         string `json:"src,omitempty"`
	Line        string `json:"line,omitempty"`
	Interactive bool   `json:"interactive,omitempty"`
	Width       int    `json:"width,omitempty"`
	File        bool   `json:"file,omitempty"` // Src is a file: locate a run-time error
	V6          bool   `json:"v6,omitempty"`   // Src is a RouterOS 6 export's
}

// response is one server message.
type response struct {
	Out string `json:"out,omitempty"`
	// Raw is output that is not UTF-8 (a Latin-1 comment :put prints, a chunk that ends
	// inside a character), sent as bytes: a JSON string would turn it into U+FFFD.
	Raw      []byte   `json:"raw,omitempty"`
	Done     bool     `json:"done,omitempty"`
	Path     string   `json:"path,omitempty"`
	Error    string   `json:"error,omitempty"`
	Words    []string `json:"words,omitempty"`
	Identity string   `json:"identity,omitempty"`
}

// maxRequest bounds one request line; routerctl -f sends a whole script in one.
const maxRequest = 16 << 20

// User is the session user of the console socket.
const User = "admin"
