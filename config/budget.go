package config

import (
	"reflect"
	"time"
)

// BudgetSpec is a shared retry budget of a file's budgets section, which
// retry sections name in their budget field; see policy/budget.
type BudgetSpec struct {
	Ratio    float64       `yaml:"ratio" doc:"Extra attempts allowed per call in the window, such as 0.2; default 0."`
	MinExtra int           `yaml:"min_extra" doc:"Extra attempts allowed in the window whatever the calls; default 0."`
	Window   time.Duration `yaml:"window" doc:"How far back calls and extra attempts count; default 10s."`
}

// budgetKind describes the budget sections to the decoder; budgets are not
// policies, so it is not registered.
func budgetKind() *kind {
	return &kind{name: "budget", spec: reflect.TypeFor[BudgetSpec]()}
}
