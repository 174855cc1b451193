package live

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

func fail(context.Context) error { return errBoom }
func ok(context.Context) error   { return nil }

// newBreaker returns a breaker called name that opens after 4 failures in a
// row and stays open for brk.
func newBreaker(t testing.TB, name string, brk time.Duration) *breaker.Breaker {
	t.Helper()
	return breaker.Must(breaker.Config{
		Name: name, WindowSize: 20, MinimumThroughput: 4, FailureRatio: 0.5,
		BreakDuration: brk, SuccessThreshold: 1, Telemetry: telemetry.Disabled(),
	})
}

// open fails calls through b until it opens.
func open(t testing.TB, b *breaker.Breaker) {
	t.Helper()
	for i := 0; b.State() != breaker.Open; i++ {
		if i > 100 {
			t.Fatal("the breaker does not open")
		}
		b.Execute(context.Background(), fail)
	}
}

// getJSON fetches the JSON twin.
func getJSON(t testing.TB, url string) frame {
	t.Helper()
	resp, err := http.Get(url + "?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET ?format=json: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var f jsonFrame
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatal(err)
	}
	return f.frame()
}

// jsonFrame is a frame as a client decodes it.
type jsonFrame struct {
	Type        string             `json:"type"`
	Seq         uint64             `json:"seq"`
	Policies    []policyView       `json:"policies"`
	Transitions []transitionView   `json:"transitions"`
	History     map[string][][]any `json:"history"`
}

func (j jsonFrame) frame() frame {
	return frame{Type: j.Type, Seq: j.Seq, Policies: j.Policies, Transitions: j.Transitions}
}

func find(t testing.TB, f frame, kind, name string) policyView {
	t.Helper()
	for _, p := range f.Policies {
		if p.Kind == kind && p.Name == name {
			return p
		}
	}
	t.Fatalf("no %s called %q among %d policies", kind, name, len(f.Policies))
	return policyView{}
}

// stream is an event-stream client.
type stream struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func openStream(t testing.TB, url string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"?format=events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET ?format=events: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &stream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
}

// next returns the next frame.
func (s *stream) next(t testing.TB) jsonFrame {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var f jsonFrame
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				t.Fatalf("frame %q: %v", data, err)
			}
			return f
		}
	}
}

func (s *stream) close() {
	s.cancel()
	io.Copy(io.Discard, s.resp.Body)
	s.resp.Body.Close()
}

func serve(t testing.TB, h *Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return srv
}

// viewers returns how many streams the handler serves, and whether its
// sampler runs.
func (h *Handler) viewers() (int, bool) {
	h.hub.mu.Lock()
	defer h.hub.mu.Unlock()
	return len(h.hub.viewers), h.hub.stop != nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func decode(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
