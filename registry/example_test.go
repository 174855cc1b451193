package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/registry"
)

// A breaker per tenant: one tenant's failing backend opens its own breaker
// only. Every entry is named after the template, "per-tenant", so the
// metrics have one series per policy whatever the number of tenants.
func Example() {
	tenants := registry.Must(registry.Config[string]{
		New: func(tenant string) (*policy.Pipeline, error) {
			b, err := breaker.New(breaker.Config{Name: "per-tenant", ConsecutiveFailures: 3})
			if err != nil {
				return nil, err
			}
			return policy.NewPipeline("per-tenant", b), nil
		},
		MaxEntries: 1000,
		IdleTTL:    10 * time.Minute,
	})

	call := func(tenant string, fail bool) error {
		p, err := tenants.Get(tenant)
		if err != nil {
			return err
		}
		return p.Execute(context.Background(), func(context.Context) error {
			if fail {
				return errors.New("backend down")
			}
			return nil
		})
	}
	for range 3 {
		_ = call("acme", true)
	}
	fmt.Println("acme:", call("acme", false))
	fmt.Println("globex:", call("globex", false))
	for tenant, p := range tenants.All() {
		if tenant == "acme" {
			fmt.Println("acme busy:", registry.DefaultBusy(p))
		}
	}
	// Output:
	// acme: palisade/breaker: per-tenant: circuit open
	// globex: <nil>
	// acme busy: true
}
