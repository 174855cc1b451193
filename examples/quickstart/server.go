package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// schedule is the server's day: healthy for the first 15% of the run, slow
// until 35%, failing until 60%, and then recovered.
type schedule struct {
	start    time.Time
	duration time.Duration
}

func (s schedule) slowFrom() time.Duration      { return s.duration * 15 / 100 }
func (s schedule) failingFrom() time.Duration   { return s.duration * 35 / 100 }
func (s schedule) recoveredFrom() time.Duration { return s.duration * 60 / 100 }

// phase returns the server's state at t.
func (s schedule) phase(t time.Time) string {
	switch d := t.Sub(s.start); {
	case d < s.slowFrom():
		return "healthy"
	case d < s.failingFrom():
		return "slow"
	case d < s.recoveredFrom():
		return "failing"
	default:
		return "recovered"
	}
}

// newFlakyServer returns the handler of the demo's dependency: a user
// lookup that answers in a few milliseconds, but, while the schedule says it
// is slow, answers cfg.SlowRate of the requests only after three times the
// client's timeout, and while it is failing, fails cfg.FailureRate of them
// with 503.
func newFlakyServer(s schedule, cfg config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		delay := time.Duration(2+rand.IntN(8)) * time.Millisecond
		switch s.phase(time.Now()) {
		case "slow":
			if rand.Float64() < cfg.SlowRate {
				delay = 3 * cfg.Timeout
			}
		case "failing":
			if rand.Float64() < cfg.FailureRate {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"user %s"}`+"\n", r.PathValue("id"), r.PathValue("id"))
	})
	return mux
}
