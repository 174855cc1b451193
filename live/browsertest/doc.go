// Package browsertest drives the live view (package live) in headless
// Chromium, through chromedp. It is a module of its own so that the
// library's go.mod does not depend on chromedp; it holds only tests.
//
//	go test ./live/browsertest/...                      # skips without chromium, unless CI=true
//	go test ./live/browsertest/... -screenshots DIR     # keeps the screenshots in DIR
package browsertest
