package live_test

import (
	"net/http"
	"strings"

	"github.com/palisade-go/palisade/live"
)

// A read-only view, mounted on a server of its own, for a debug port
// reachable only from inside.
func ExampleNew() {
	view := live.Must(live.Config{})
	mux := http.NewServeMux()
	mux.Handle("/debug/palisade", view)
	srv := &http.Server{Addr: "127.0.0.1:6060", Handler: mux}
	srv.RegisterOnShutdown(view.Close) // end the event streams, or Shutdown waits for them
	// go srv.ListenAndServe()
}

// Isolate and Reset buttons for operators: Authorize decides who may act.
// Put the view behind your usual authentication; Authorize sees the
// request as it reaches the view.
func ExampleConfig_authorize() {
	view := live.Must(live.Config{
		Authorize: func(r *http.Request) bool {
			user, _, ok := r.BasicAuth() // or your session, mTLS identity, …
			return ok && strings.HasSuffix(user, "@ops")
		},
	})
	http.Handle("/debug/palisade", view)
}
