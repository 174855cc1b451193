// Package config builds pipelines from a YAML or JSON file, with overrides
// from environment variables, and keeps them up to date as the file
// changes.
//
// # Files
//
// A file names pipelines and lists each one's policies, outermost first,
// with the fields of their Config (in snake case; durations as "250ms"):
//
//	defaults:              # every policy of a kind starts from these
//	  breaker:
//	    failure_ratio: 0.5
//	    break_duration: 30s
//	budgets:               # shared retry budgets, named by retries
//	  shared:
//	    ratio: 0.2
//	    min_extra: 10
//	pipelines:
//	  users-api:
//	    policies:
//	      - retry:
//	          max_attempts: 3
//	          budget: shared
//	          backoff: {initial_interval: 50ms, max_interval: 1s}
//	      - breaker:
//	          window_size: 50  # and the defaults' failure_ratio, break_duration
//	      - timeout:
//	          duration: 250ms
//	      - bulkhead:           # every default
//
// JSON files are read as the YAML they also are. The kinds of policy and
// their fields are those of [BreakerSpec], [TimeoutSpec], [BulkheadSpec],
// [RetrySpec] (with [BackOffSpec]) and [BudgetSpec]; zero or missing fields
// take the policy's own defaults, and a policy's name defaults to its
// pipeline's, so that each pipeline's policies report under a name of
// their own. Fields a file cannot hold — functions such as
// breaker.Config.IsFailure — are set in code with [WithCustomizer].
// [Schema] gives the JSON Schema of files, for editors.
//
// Unknown fields, kinds and keys are errors, as are duplicate keys. A file
// with problems gives an *[Error] listing every one of them, each with its
// file, line, column and path, as in
//
//	palisade/config: pipelines.yaml: 2 problems:
//		pipelines.yaml:14:26: pipelines.users-api.policies[1].breaker.failure_ratio: palisade/breaker: Config.FailureRatio must be in (0, 1] (0 means 0.5), got 2
//		pipelines.yaml:17:21: pipelines.users-api.policies[2].timeout.duration: want a duration such as 250ms or 1m30s, got "fast"
//
// # Environment variables
//
// A variable overrides, or adds, one field of the file:
//
//	PALISADE_PIPELINES_<PIPELINE>_<KIND>_<FIELD>   a policy of a pipeline
//	PALISADE_DEFAULTS_<KIND>_<FIELD>               the defaults of a kind
//	PALISADE_BUDGETS_<BUDGET>_<FIELD>              a budget
//
// where each name is written in upper case with every character other than
// a letter or digit replaced by an underscore, and a nested field's name
// follows its parent's: PALISADE_PIPELINES_USERS_API_TIMEOUT_DURATION=100ms
// sets the timeout of pipeline users-api,
// PALISADE_PIPELINES_USERS_API_RETRY_BACKOFF_INITIAL_INTERVAL=20ms its
// retry's first delay. The second policy of a kind in a pipeline is
// <KIND>2, the third <KIND>3, and so on. Variables can change the policies
// a file lists, not add policies or pipelines. A variable whose name
// starts with one of these prefixes but names no field of the file is an
// error, so that a typing mistake is not silently ignored.
//
// # Reloading
//
// [Watch] loads a file and reloads it when its content changes; so does
// [Pipelines.Reload] from any reader. A reload swaps every pipeline at
// once, or, if the new file has any problem, none: the running pipelines
// are kept and the error is reported. What the new file leaves unchanged
// is kept: a policy whose settings are all the same is the same object —
// a breaker keeps its state and window, a bulkhead the calls it counts —
// while one whose settings changed is built anew (a breaker whose window
// or any other setting changed starts closed with an empty window).
// [Pipelines.Get] returns the current pipeline of a name, [Pipelines.Policy]
// a handle that follows reloads.
//
// # Kinds of your own
//
// A kind of policy is a spec type and a build function given to
// [Register], as this package's breaker.go does for breakers.
package config
