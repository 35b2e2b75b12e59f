package render

import "github.com/ctrace-dev/ctrace/tracer"

// Call returns the process and the call as strace prints it, as the text
// line shows them, without colour: for outputs that carry the call alone
// (a Kubernetes Event's note).
//
//	mount[4242] uid=0 mount("none", "/x", ...) = -1 ENOENT (No such file or directory)
func Call(ev *tracer.Event) string {
	return string(appendCall(nil, ev, false)[1:]) // without appendCall's leading space
}
