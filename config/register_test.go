package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/policy"
)

// delaySpec is a kind of policy of the tests' own.
type delaySpec struct {
	Delay time.Duration `yaml:"delay" doc:"How long to wait."`
	Note  struct {
		Text string `yaml:"text"`
	} `yaml:"note"`
}

type delay struct{ d time.Duration }

func (d delay) Execute(ctx context.Context, fn policy.Func) error { return fn(ctx) }

func init() {
	config.Register("test-delay", func(b *config.Build, s delaySpec) (policy.Policy, error) {
		if s.Note.Text == "panic" {
			panic("told to")
		}
		return delay{s.Delay}, nil
	})
}

func TestRegisteredKind(t *testing.T) {
	p := load(t, "pipelines: {a: {policies: [{test-delay: {delay: 5ms, note: {text: hi}}}]}}",
		config.WithEnviron([]string{"PALISADE_PIPELINES_A_TEST_DELAY_NOTE_TEXT=from-env"}))
	if d := p.Get("a").Policies()[0].(delay); d.d != 5*time.Millisecond {
		t.Errorf("delay %v", d.d)
	}
	_, err := config.Load(strings.NewReader("pipelines: {a: {policies: [{test-delay: {note: {text: panic}}}]}}"), config.WithEnviron(nil))
	if err == nil || !strings.Contains(err.Error(), "building the test-delay policy panicked: told to") {
		t.Errorf("panicking builder: %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"duplicate": func() {
			config.Register("breaker", func(*config.Build, delaySpec) (policy.Policy, error) { return nil, nil })
		},
		"not a struct": func() {
			config.Register("x1", func(*config.Build, int) (policy.Policy, error) { return nil, nil })
		},
		"bad field": func() {
			type spec struct {
				F []int `yaml:"f"`
			}
			config.Register("x2", func(*config.Build, spec) (policy.Policy, error) { return nil, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			fn()
		}()
	}
}
