package live

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy/breaker"
)

var tokenRE = regexp.MustCompile(`<meta name="palisade-csrf" content="([^"]*)">`)

// browser is a client with a cookie jar, as a browser would be.
type browser struct {
	t      testing.TB
	client *http.Client
	url    string
}

func newBrowser(t testing.TB, url string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar}, url: url}
}

// page loads the page and returns its CSRF token ("" if none).
func (b *browser) page() string {
	b.t.Helper()
	resp, err := b.client.Get(b.url)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	m := tokenRE.FindStringSubmatch(readAll(b.t, resp))
	if m == nil {
		b.t.Fatal("the page has no palisade-csrf meta tag")
	}
	return m[1]
}

// post sends an action with token and extra headers; it returns the status
// and body.
func (b *browser) post(action string, id uint64, token string, header ...string) (int, string) {
	b.t.Helper()
	form := url.Values{"action": {action}, "id": {strconv.FormatUint(id, 10)}}
	req, _ := http.NewRequest(http.MethodPost, b.url, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set(csrfHeader, token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(b.t, resp)
}

func idOf(t testing.TB, srvURL, name string) uint64 {
	t.Helper()
	return find(t, getJSON(t, srvURL), "breaker", name).ID
}

func TestReadOnlyByDefault(t *testing.T) {
	b := newBreaker(t, "readonly-breaker", time.Hour)
	open(t, b)
	var logs bytes.Buffer
	srv := serve(t, Must(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	br := newBrowser(t, srv.URL)
	if tok := br.page(); tok != "" {
		t.Errorf("a read-only page carries a CSRF token %q", tok)
	}
	id := idOf(t, srv.URL, "readonly-breaker")
	// A forged POST, even one carrying a token computed some other way.
	if code, body := br.post("reset", id, "forged"); code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Errorf("POST reset to a read-only view: %d %q, want 403", code, body)
	}
	if s := b.State(); s != breaker.Open {
		t.Errorf("the breaker is %v after a refused reset", s)
	}
	if !strings.Contains(logs.String(), "action refused") {
		t.Errorf("the refusal is not logged: %q", logs.String())
	}
}

func TestActionsNeedAuthorizationAndToken(t *testing.T) {
	b := newBreaker(t, "action-breaker", time.Hour)
	var logs bytes.Buffer
	allow := func(r *http.Request) bool { return r.Header.Get("X-Test-User") != "mallory" }
	h := Must(Config{Authorize: allow, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := serve(t, h)
	id := idOf(t, srv.URL, "action-breaker")
	br := newBrowser(t, srv.URL)
	token := br.page()
	if token == "" {
		t.Fatal("an authorized page has no CSRF token")
	}

	refused := []struct {
		what   string
		token  string
		header []string
		client *browser
		reason string
	}{
		{"no token", "", nil, br, "CSRF"},
		{"a wrong token", token[:len(token)-2] + "xx", nil, br, "CSRF"},
		{"a token without its cookie", token, nil, newBrowser(t, srv.URL), "CSRF"},
		{"an unauthorized user", token, []string{"X-Test-User", "mallory"}, br, "not authorized"},
		{"a cross-site request", token, []string{"Sec-Fetch-Site", "cross-site"}, br, "cross-origin"},
		{"another origin", token, []string{"Origin", "https://evil.example"}, br, "cross-origin"},
	}
	for _, tc := range refused {
		if code, body := tc.client.post("isolate", id, tc.token, tc.header...); code != http.StatusForbidden || !strings.Contains(body, tc.reason) {
			t.Errorf("%s: %d %q, want 403 (%s)", tc.what, code, body, tc.reason)
		}
	}
	// A token from another handler (another secret) is refused too.
	other := serve(t, Must(Config{Authorize: allow}))
	otherToken := newBrowser(t, other.URL).page()
	if code, body := br.post("isolate", id, otherToken); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("another handler's token: %d, want 403", code)
	}
	if s := b.State(); s != breaker.Closed {
		t.Fatalf("after refused actions the breaker is %v", s)
	}

	// The real thing, served with a recording span in the request's
	// context (as otelhttp would put there).
	o := oteltest.New()
	rec := httptest.NewRecorder()
	span := o.InSpan(t, func(ctx context.Context) {
		form := url.Values{"action": {"isolate"}, "id": {strconv.FormatUint(id, 10)}}
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(csrfHeader, token)
		u, _ := url.Parse(srv.URL)
		for _, c := range br.client.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		h.ServeHTTP(rec, req)
	})
	if code, body := rec.Code, rec.Body.String(); code != http.StatusOK || !strings.Contains(body, `"state":"isolated"`) {
		t.Fatalf("isolate: %d %q", code, body)
	}
	var event bool
	for _, e := range span.Events() {
		if e.Name != semconv.LiveActionEvent {
			continue
		}
		event = true
		want := attribute.NewSet(semconv.LiveActionKey.String("isolate"), semconv.PolicyTypeKey.String("breaker"),
			semconv.PolicyNameKey.String("action-breaker"))
		if got := attribute.NewSet(e.Attributes...); !got.Equals(&want) {
			t.Errorf("event attributes %v, want %v", got.ToSlice(), want.ToSlice())
		}
	}
	if !event {
		t.Errorf("no %s event on the request's span: %v", semconv.LiveActionEvent, span.Events())
	}
	if s := b.State(); s != breaker.Isolated {
		t.Fatalf("after isolate the breaker is %v", s)
	}
	if code, body := br.post("reset", id, token); code != http.StatusOK || !strings.Contains(body, `"state":"closed"`) {
		t.Fatalf("reset: %d %q", code, body)
	}
	// The view holds policies weakly: without this, b, last used above,
	// may be collected before the reset finds it (CI once saw a 404).
	runtime.KeepAlive(b)
	for _, want := range []string{"action=isolate", "action=reset", "policy.name=action-breaker", "policy.type=breaker"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}

	// Bad input is refused, by name.
	for _, tc := range []struct {
		action string
		id     uint64
		code   int
	}{
		{"explode", id, http.StatusBadRequest},
		{"reset", 1 << 60, http.StatusNotFound},
	} {
		if code, body := br.post(tc.action, tc.id, token); code != tc.code {
			t.Errorf("%s #%d: %d %q, want %d", tc.action, tc.id, code, body, tc.code)
		}
	}
}
