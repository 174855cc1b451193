// Package live serves a live view of every policy of the process: an
// http.Handler, opt-in, that you mount where you like.
//
//	mux.Handle("/debug/palisade", live.Must(live.Config{}))
//
// The page lists the breakers (state, coloured; failure and slow-call
// ratios against their thresholds; how full the window is; the time left
// in a break; the last state changes, with their times; a sparkline of
// the failure ratio over the last minutes), the bulkheads (calls in
// flight, limit, queued), the retry budgets (extra attempts spent and
// allowed in their window) and the pipelines (their policies and, given a
// MetricReader, their recent latency and outcome rates). Policies of kinds
// the view does not know are shown by the facts they register.
//
// # How it works
//
// Policies register themselves, when built, in a process-wide inventory
// that holds them weakly: a policy that is no longer used disappears from
// the view, and nothing on a call's path is touched. While at least one
// page is open, one sampler goroutine per Handler reads every policy each
// Interval (250ms), through the same methods a program would call
// (breaker.Metrics, bulkhead.InFlight, budget.Stats), notes the state
// changes and, once a second, a sparkline point; it stops when the last
// page closes. Each page gets the updates over server-sent events, from a
// buffer of a few frames: a page that does not keep up loses frames (and
// gets a full one when it catches up), so a slow viewer never slows the
// policies, the sampler or the other viewers. Reading a breaker whose
// break is over observes it as half-open, as breaker.State would, so the
// transition is reported (and OnStateChange called) on the sampler's
// goroutine.
//
// The page is self-contained — HTML, CSS and JavaScript embedded, no
// external resource — and works offline and on a phone.
//
// # Formats
//
// GET serves the page; GET with ?format=json the same data as JSON (a
// fresh sample, with the transitions and sparklines seen so far); GET with
// ?format=events the event stream the page reads. The JSON twin is for
// scripts and dashboards: do not wire breaker state into a Kubernetes
// liveness probe — an open breaker means a dependency is failing, and
// restarting this process fixes nothing (it empties the breaker and sends
// the dependency a fresh burst of calls).
//
// # Actions
//
// The view is read-only unless Config.Authorize is set. Then a viewer it
// approves gets Isolate and Reset buttons on each breaker; each press is a
// POST carrying a CSRF token (an HMAC, under a random per-Handler secret,
// of a random value held in a SameSite=Strict cookie), checked along with
// Authorize and the request's origin. Every action is logged
// (Config.Logger) and added as a palisade.live.action event to the span in
// the request's context; every refused one is logged too.
//
// The view shows only what the policies report of themselves — names,
// states, counts, configuration — never anything of the requests that
// went through them.
package live
