package browsertest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/live"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

var (
	screenshots = flag.String("screenshots", "", "directory to keep the screenshots in (default: the test's temporary directory, removed afterwards)")
	shotURL     = flag.String("shot-url", "", "TestShootURL: the page to take a screenshot of (a running quickstart -serve)")
	shotOut     = flag.String("shot-out", "live.png", "TestShootURL: where to write the PNG")
	shotWait    = flag.Duration("shot-wait", 0, "TestShootURL: how long to wait after loading the page")
	shotWidth   = flag.Int("shot-width", 1000, "TestShootURL: the viewport's width, in CSS pixels")
)

// mount is where the tests mount the view: not at the root, as a user
// would not.
const mount = "/debug/palisade"

// chromiumPath finds Chromium; without it the test skips, or fails under
// CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true: the browser tests must run (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed: skipping the browser tests (apt-get install -y chromium to run them; under CI=true they fail instead)")
	return ""
}

// newTab starts a headless Chromium with a fresh profile and returns a
// context for one tab, ended with the test.
func newTab(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// server serves view under mount on 127.0.0.1.
func server(t *testing.T, view *live.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(mount, view)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		view.Close()
		srv.Close()
	})
	return srv
}

// shoot saves a screenshot of the page as name.png.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := *screenshots
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, t.Name()+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// stateOf is the JavaScript giving the state the page shows for the
// breaker called name, or "" while it shows none.
func stateOf(name string) string {
	return fmt.Sprintf(`(function(){var s=document.querySelector('.card[data-kind="breaker"][data-name=%q] .state');return s&&s.dataset.state||"";})()`, name)
}

// waitState waits, at most within, for the page to show the breaker in
// state.
func waitState(t *testing.T, ctx context.Context, name, state string, within time.Duration) {
	t.Helper()
	start := time.Now()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](stateOf(name)+` === `+fmt.Sprintf("%q", state),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(within)))
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](stateOf(name)))
		t.Fatalf("the page shows %s %q, not %q, %v after the transition: %v", name, shown, state, within, err)
	}
	t.Logf("the page showed %s %s %v after the transition", name, state, time.Since(start).Round(time.Millisecond))
}

func newBreaker(name string, brk time.Duration) *breaker.Breaker {
	return breaker.Must(breaker.Config{
		Name: name, WindowSize: 20, MinimumThroughput: 4, BreakDuration: brk, SuccessThreshold: 1,
		Telemetry: telemetry.Disabled(),
	})
}

var errDown = errors.New("dependency down")

func openBreaker(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	for i := 0; b.State() != breaker.Open; i++ {
		if i > 100 {
			t.Fatal("the breaker does not open")
		}
		b.Execute(context.Background(), func(context.Context) error { return errDown })
	}
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#conn.live`))); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
}

// TestPageFollowsTheBreaker loads the page while a breaker opens and
// closes again, and checks that the page shows each state within a second
// of the transition, and logs both.
func TestPageFollowsTheBreaker(t *testing.T) {
	ctx := newTab(t)
	b := newBreaker("checkout", 500*time.Millisecond)
	bh := bulkhead.Must(bulkhead.Config{Name: "checkout", MaxConcurrent: 8, MaxQueue: 4, Telemetry: telemetry.Disabled()})
	p := policy.NewPipeline("checkout", b, bh).WithTelemetry(telemetry.Disabled())
	for range 30 {
		p.Execute(context.Background(), func(context.Context) error { return nil })
	}
	// A kind of policy the view does not know is shown by its facts.
	rl := &rateLimiter{rate: 50}
	inventory.Add(rl, "ratelimit", func(r *rateLimiter) inventory.Facts {
		return inventory.Facts{"rate": r.rate, "burst": 5}
	})
	srv := server(t, live.Must(live.Config{}))
	navigate(t, ctx, srv.URL+mount)
	waitState(t, ctx, "checkout", "closed", 2*time.Second)
	facts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#s-other .card[data-kind="ratelimit"]').textContent`))
	if err != nil || !strings.Contains(facts, "rate50") || !strings.Contains(facts, "burst5") {
		t.Errorf("the rate limiter's card reads %q (%v), want its facts", facts, err)
	}
	shoot(t, ctx, "closed")

	openBreaker(t, b)
	waitState(t, ctx, "checkout", "open", time.Second)
	shoot(t, ctx, "open")

	// The break ends; one successful trial call closes the breaker.
	time.Sleep(time.Until(b.Metrics().StateSince.Add(500 * time.Millisecond)))
	if err := b.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("the trial call: %v", err)
	}
	if s := b.State(); s != breaker.Closed {
		t.Fatalf("the breaker is %v after a successful trial", s)
	}
	waitState(t, ctx, "checkout", "closed", time.Second)
	shoot(t, ctx, "closed-again")

	runtime.KeepAlive(rl)

	// Both transitions are in the page's log of state changes.
	logged, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('#events li[data-to]')).map(function(li){return li.textContent}).join("\n")`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checkout: closed → open", "→ closed"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the page's log lacks %q:\n%s", want, logged)
		}
	}
	// Read-only: no buttons.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('button[data-action]').length`)); err != nil || n != 0 {
		t.Errorf("a read-only page has %d action buttons (%v)", n, err)
	}
}

// TestResetButton clicks Reset on an open breaker, as an authorized
// operator.
func TestResetButton(t *testing.T) {
	ctx := newTab(t)
	b := newBreaker("payments", time.Hour)
	var logs syncBuffer
	view := live.Must(live.Config{
		Authorize: func(*http.Request) bool { return true },
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	srv := server(t, view)
	openBreaker(t, b)
	navigate(t, ctx, srv.URL+mount)
	waitState(t, ctx, "payments", "open", 2*time.Second)
	shoot(t, ctx, "open")

	button := chromedp.CSS(`.card[data-name="payments"] button[data-action="reset"]`)
	if err := chromedp.Do(ctx, chromedp.Click(button)); err != nil {
		t.Fatalf("clicking Reset: %v", err)
	}
	// The click's POST, the action and the next push (every 250 ms): 3 s
	// leaves room for a machine as loaded as CI's, where 1 s once ran out.
	waitState(t, ctx, "payments", "closed", 3*time.Second)
	if s := b.State(); s != breaker.Closed {
		t.Errorf("after Reset the breaker is %v", s)
	}
	shoot(t, ctx, "reset")
	if !strings.Contains(logs.String(), "action=reset") || !strings.Contains(logs.String(), "policy.name=payments") {
		t.Errorf("the reset is not logged:\n%s", logs.String())
	}
}

// TestNoButtonsAndForgedPostsRefused checks a read-only view: no button,
// and a POST forged from the page's own origin gets 403. Then, with an
// authorizer, a form posted from another origin is refused too.
func TestNoButtonsAndForgedPostsRefused(t *testing.T) {
	ctx := newTab(t)
	b := newBreaker("inventory", time.Hour)
	openBreaker(t, b)
	srv := server(t, live.Must(live.Config{}))
	navigate(t, ctx, srv.URL+mount)
	waitState(t, ctx, "inventory", "open", 2*time.Second)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('button').length`)); err != nil || n != 0 {
		t.Errorf("a read-only page has %d buttons (%v)", n, err)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.card[data-name="inventory"]').dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch(location.pathname, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded", "X-Palisade-Csrf": "forged"}, body: "action=reset&id=%s"}).then(function(r){return r.status})`, id),
		chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusForbidden {
		t.Errorf("a forged POST: %d (%v), want 403", status, err)
	}
	if s := b.State(); s != breaker.Open {
		t.Errorf("after a forged POST the breaker is %v", s)
	}
	shoot(t, ctx, "read-only")

	// An authorized view, and a page of another origin (another port)
	// that posts a form to it: the browser sends the view's cookie along
	// (same site), but the request is cross-origin and has no token.
	var logs syncBuffer
	view := live.Must(live.Config{
		Authorize: func(*http.Request) bool { return true },
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	target := server(t, view)
	navigate(t, ctx, target.URL+mount) // the victim has the view open: it holds the cookie
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="POST" action="%s%s"><input name="action" value="reset"><input name="id" value="%s"></form>
<script>document.getElementById("f").submit()</script>`, target.URL, mount, id)
	}))
	defer evil.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "action refused") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "cross-origin") {
		t.Errorf("the cross-origin form post was not refused as such:\n%s", logs.String())
	}
	if s := b.State(); s != breaker.Open {
		t.Errorf("after a cross-origin form post the breaker is %v", s)
	}
}

// TestReadableOnAPhone loads the page in a phone-sized viewport: nothing
// overflows sideways, and the buttons are large enough to tap.
func TestReadableOnAPhone(t *testing.T) {
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	b := newBreaker("a-breaker-with-a-rather-long-name-for-a-phone-screen", time.Hour)
	openBreaker(t, b)
	srv := server(t, live.Must(live.Config{Authorize: func(*http.Request) bool { return true }}))
	navigate(t, ctx, srv.URL+mount)
	waitState(t, ctx, "a-breaker-with-a-rather-long-name-for-a-phone-screen", "open", 2*time.Second)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil || overflow > 0 {
		t.Errorf("the page is %d CSS pixels wider than the phone (%v)", overflow, err)
	}
	height, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('button[data-action="reset"]').getBoundingClientRect().height`))
	if err != nil || height < 44 { // the smallest touch target of Apple's guidelines
		t.Errorf("the Reset button is %v CSS pixels high (%v), too small to tap", height, err)
	}
	shoot(t, ctx, "phone")
}

// TestShootURL takes the README's screenshot of a running view:
//
//	go run ./examples/quickstart -serve 127.0.0.1:6060 -duration 30s &
//	go test ./live/browsertest -run TestShootURL -shot-url http://127.0.0.1:6060/debug/palisade -shot-wait 13s -shot-width 720 -shot-out $PWD/docs/img/live.png
func TestShootURL(t *testing.T) {
	if *shotURL == "" {
		t.Skip("no -shot-url")
	}
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(*shotWidth), 700)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, *shotURL)
	time.Sleep(*shotWait)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*shotOut, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", *shotOut, len(png))
}

// rateLimiter stands for a kind of policy the view does not know.
type rateLimiter struct {
	rate float64
	_    [64]byte
}

// syncBuffer is a bytes.Buffer safe for the logger's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
