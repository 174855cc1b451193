package live

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy/breaker"
)

// The actions a viewer may take, when authorized.
const (
	actionIsolate = "isolate"
	actionReset   = "reset"
)

const (
	// csrfCookie holds the random value the page's CSRF token is derived
	// from (signed double submit).
	csrfCookie = "palisade_live_csrf"
	// csrfHeader carries the page's CSRF token with each action.
	csrfHeader = "X-Palisade-Csrf"
	// keepAlive is how often an idle event stream gets a comment, so that
	// proxies do not close it.
	keepAlive = 15 * time.Second
	// writeTimeout bounds each write to an event stream: a viewer that
	// does not read is disconnected rather than holding a goroutine.
	writeTimeout = 10 * time.Second
)

//go:embed assets/index.html
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// Handler serves the live view. It is safe for concurrent use. See the
// package documentation for what it serves.
type Handler struct {
	cfg     settings
	hub     *hub
	secret  []byte // signs CSRF tokens; random per Handler
	closing chan struct{}
	once    sync.Once
	origin  *http.CrossOriginProtection
}

func newHandler(s settings) (*Handler, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return &Handler{
		cfg:     s,
		hub:     newHub(s),
		secret:  secret,
		closing: make(chan struct{}),
		origin:  http.NewCrossOriginProtection(),
	}, nil
}

// Close ends every event stream and refuses new ones; the page and the
// JSON twin keep working. It returns once the sampler has stopped. Pass it
// to http.Server.RegisterOnShutdown, or call it before Shutdown: a server
// shutting down waits for open streams, which never end on their own.
func (h *Handler) Close() {
	h.once.Do(func() {
		close(h.closing)
		h.hub.close()
	})
}

// ServeHTTP serves the page (GET), its JSON twin (GET ?format=json), its
// event stream (GET ?format=events) and actions (POST).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch r.URL.Query().Get("format") {
		case "", "html":
			h.servePage(w, r)
		case "json":
			h.serveJSON(w, r)
		case "events":
			h.serveEvents(w, r)
		default:
			http.Error(w, "palisade/live: format must be html, json or events", http.StatusBadRequest)
		}
	case http.MethodPost:
		h.serveAction(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "palisade/live: method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) authorized(r *http.Request) bool {
	return h.cfg.authorize != nil && h.cfg.authorize(r)
}

type pageData struct {
	Nonce string // of the page's inline script and style (CSP)
	Token string // CSRF token; "" for a read-only viewer
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	nonce := randomString(16)
	data := pageData{Nonce: nonce}
	if h.authorized(r) {
		seed := ""
		if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 22 && len(c.Value) <= 64 {
			seed = c.Value
		} else {
			seed = randomString(18)
		}
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: seed, Path: cookiePath(r),
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
		data.Token = h.token(seed)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	if r.Method == http.MethodHead {
		return
	}
	if err := pageTemplate.Execute(w, data); err != nil {
		h.cfg.logger.DebugContext(r.Context(), "palisade/live: writing the page", slog.Any("error", err))
	}
}

// cookiePath scopes the CSRF cookie to where the view is mounted.
func cookiePath(r *http.Request) string {
	if p := r.URL.Path; p != "" {
		return p
	}
	return "/"
}

func (h *Handler) serveJSON(w http.ResponseWriter, r *http.Request) {
	f := h.hub.snapshot(time.Now())
	f.Type = "snapshot"
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(h.hub.encode(f))
}

func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		return
	}
	v, err := h.hub.subscribe()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer h.hub.unsubscribe(v)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// A reconnecting browser waits 2s; a write that cannot go out within
	// writeTimeout ends the stream.
	if !h.write(rc, w, []byte("retry: 2000\n\n")) {
		return
	}
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		case data := <-v.frames:
			msg := make([]byte, 0, len(data)+8)
			msg = append(msg, "data: "...)
			msg = append(msg, data...)
			msg = append(msg, '\n', '\n')
			if !h.write(rc, w, msg) {
				return
			}
		case <-ping.C:
			if !h.write(rc, w, []byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

// write writes one message of an event stream and flushes it, within
// writeTimeout where the server supports write deadlines.
func (h *Handler) write(rc *http.ResponseController, w http.ResponseWriter, msg []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // unsupported: no deadline
	if _, err := w.Write(msg); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// actionResult is the answer to an accepted action.
type actionResult struct {
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
	State  string `json:"state"`
}

// serveAction isolates or resets a breaker: a POST with the form fields
// action and id, from a viewer Authorize approves, with the CSRF token of
// its page in the X-Palisade-Csrf header.
func (h *Handler) serveAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	refuse := func(status int, reason string) {
		h.cfg.logger.WarnContext(ctx, "palisade/live: action refused",
			slog.String("reason", reason), slog.String("remote", r.RemoteAddr))
		http.Error(w, "palisade/live: "+reason, status)
	}
	switch {
	case h.cfg.authorize == nil:
		refuse(http.StatusForbidden, "the view is read-only (no Config.Authorize)")
		return
	case !h.cfg.authorize(r):
		refuse(http.StatusForbidden, "not authorized")
		return
	}
	if err := h.origin.Check(r); err != nil {
		refuse(http.StatusForbidden, "cross-origin request")
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(h.token(c.Value))) {
		refuse(http.StatusForbidden, "missing or invalid CSRF token")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "unreadable form")
		return
	}
	action := r.PostForm.Get("action")
	id, err := strconv.ParseUint(r.PostForm.Get("id"), 10, 64)
	if err != nil {
		refuse(http.StatusBadRequest, "id must be a policy's id")
		return
	}
	it, ok := inventory.Find(id)
	if !ok {
		refuse(http.StatusNotFound, "no live policy has id "+strconv.FormatUint(id, 10))
		return
	}
	p, ok := it.Owner.(interface {
		Isolate()
		Reset()
		Name() string
	})
	if !ok {
		refuse(http.StatusBadRequest, "a "+it.Kind+" cannot be isolated or reset")
		return
	}
	switch action {
	case actionIsolate:
		p.Isolate()
	case actionReset:
		p.Reset()
	default:
		refuse(http.StatusBadRequest, "action must be isolate or reset")
		return
	}
	res := actionResult{ID: id, Kind: it.Kind, Name: p.Name(), Action: action}
	if b, ok := it.Owner.(*breaker.Breaker); ok {
		res.State = b.State().String()
	}
	h.cfg.logger.InfoContext(ctx, "palisade/live: action",
		slog.String("action", action), slog.String("policy.type", it.Kind), slog.String("policy.name", res.Name),
		slog.Uint64("policy.id", id), slog.String("state", res.State), slog.String("remote", r.RemoteAddr))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.LiveActionEvent, trace.WithAttributes(
			semconv.LiveActionKey.String(action),
			semconv.PolicyTypeKey.String(it.Kind),
			semconv.PolicyNameKey.String(res.Name)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(res)
}

// token is the CSRF token of the pages whose cookie holds seed.
func (h *Handler) token(seed string) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte("palisade/live csrf\x00"))
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
