package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is the error of a file that cannot be loaded: every problem found
// in it, not just the first, each with where it is.
type Error struct {
	File     string // the file's name, as given to LoadFile or Watch, or WithFileName
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "palisade/config: " + e.Problems[0].String() // which names the file
	}
	var b strings.Builder
	b.WriteString("palisade/config: ")
	b.WriteString(e.File)
	fmt.Fprintf(&b, ": %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Problem is one thing wrong with a file, or with an environment variable
// overriding it.
type Problem struct {
	File   string // the file
	Line   int    // 1-based; 0 when the value comes from Env or the problem has no place
	Column int    // 1-based; 0 when unknown
	Path   string // where in the file's structure, as pipelines.users.policies[1].breaker.failure_ratio
	Env    string // the environment variable the value came from, if any
	Err    error  // what is wrong
}

// String returns the problem as file:line:column: path: error, or
// env NAME: path: error for a value from the environment.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("env ")
		b.WriteString(p.Env)
	case p.Line > 0:
		fmt.Fprintf(&b, "%s:%d", p.File, p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	default:
		b.WriteString(p.File)
	}
	if p.Path != "" {
		b.WriteString(": ")
		b.WriteString(p.Path)
	}
	b.WriteString(": ")
	b.WriteString(p.Err.Error())
	return b.String()
}

// ErrNoPipeline is the error of a call through a handle (see
// [Pipelines.Policy]) whose pipeline is not in the current file.
var ErrNoPipeline = errors.New("palisade/config: no pipeline of that name in the current configuration")
