package config_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/policy/breaker"
)

func ExampleLoad() {
	const file = `
defaults:
  breaker: {consecutive_failures: 5, break_duration: 10s}
pipelines:
  users-api:
    policies:
      - retry: {max_attempts: 3, backoff: {initial_interval: 50ms}}
      - breaker: {}
      - timeout: {duration: 250ms}
`
	pipelines, err := config.Load(strings.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	users := pipelines.Get("users-api")
	err = users.Execute(context.Background(), func(ctx context.Context) error {
		return nil // call the users API with ctx
	})
	fmt.Println(users.Name(), len(users.Policies()), "policies:", err)
	// Output:
	// users-api 3 policies: <nil>
}

// Every problem of a file, each with its line and path.
func ExampleError() {
	const file = `pipelines:
  users-api:
    policies:
      - breaker: {failure_ratio: 1.5}
      - timeout: {duration: soon}
`
	_, err := config.Load(strings.NewReader(file), config.WithFileName("pipelines.yaml"))
	fmt.Println(err)
	// Output:
	// palisade/config: pipelines.yaml: 2 problems:
	//	pipelines.yaml:4:34: pipelines.users-api.policies[0].breaker.failure_ratio: palisade/breaker: Config.FailureRatio must be in (0, 1] (0 means 0.5), got 1.5
	//	pipelines.yaml:5:29: pipelines.users-api.policies[1].timeout.duration: want a duration such as 250ms or 1m30s, got "soon"
}

// Code sets what a file cannot hold, here which errors a breaker ignores.
func ExampleWithCustomizer() {
	errNotFound := errors.New("not found")
	pipelines, err := config.Load(strings.NewReader(`pipelines: {orders: {policies: [{breaker: {consecutive_failures: 1}}]}}`),
		config.WithCustomizer("breaker", func(pipeline string, c *breaker.Config) {
			c.IsIgnored = func(err error) bool { return errors.Is(err, errNotFound) }
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	orders := pipelines.Get("orders")
	_ = orders.Execute(context.Background(), func(context.Context) error { return errNotFound })
	fmt.Println(orders.Policies()[0].(*breaker.Breaker).State())
	// Output:
	// closed
}
