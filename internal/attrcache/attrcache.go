// Package attrcache memoizes the attribute sets of measurements and span
// events that differ only by error.type, so that a failure or rejection
// path does not rebuild the same set for every call.
package attrcache

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/semconv"
)

// maxEntries bounds a Cache: error.type is low-cardinality by convention,
// but the Go type names of arbitrary errors are not guaranteed to be. Past
// it, options are built per call and not kept.
const maxEntries = 128

// Options are the ways one attribute set is passed to the OTel API.
type Options struct {
	Add    []metric.AddOption
	Record []metric.RecordOption
	Event  []trace.EventOption
}

// New returns the Options of attrs.
func New(attrs ...attribute.KeyValue) *Options {
	set := attribute.NewSet(attrs...)
	return &Options{
		Add:    []metric.AddOption{metric.WithAttributeSet(set)},
		Record: []metric.RecordOption{metric.WithAttributeSet(set)},
		Event:  []trace.EventOption{trace.WithAttributes(attrs...)},
	}
}

// Cache maps an error.type to the Options of Base plus error.type. The zero
// value has an empty Base; it is safe for concurrent use.
type Cache struct {
	Base []attribute.KeyValue
	m    sync.Map // string -> *Options
	size atomic.Int32
}

// Get returns the Options of c.Base plus error.type = errorType.
func (c *Cache) Get(errorType string) *Options {
	if o, ok := c.m.Load(errorType); ok {
		return o.(*Options)
	}
	kvs := make([]attribute.KeyValue, 0, len(c.Base)+1)
	kvs = append(append(kvs, c.Base...), semconv.ErrorTypeKey.String(errorType))
	o := New(kvs...)
	if c.size.Load() < maxEntries {
		if actual, loaded := c.m.LoadOrStore(errorType, o); loaded {
			return actual.(*Options)
		}
		c.size.Add(1)
	}
	return o
}
