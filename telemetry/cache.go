package telemetry

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedErrorTypes bounds optionCache: error.type is low-cardinality by
// convention, but the Go type names of arbitrary errors are not guaranteed
// to be.
const maxCachedErrorTypes = 128

// optionCache memoizes measurement options keyed by error.type, so that the
// failure path does not rebuild the same attribute set for every call.
type optionCache struct {
	base []attribute.KeyValue
	opts sync.Map // string -> []metric.RecordOption
	size atomic.Int32
}

func newOptionCache(base ...attribute.KeyValue) *optionCache {
	return &optionCache{base: base}
}

// record returns the options of a measurement with base plus
// error.type=errorType.
func (c *optionCache) record(errorType string) []metric.RecordOption {
	if o, ok := c.opts.Load(errorType); ok {
		return o.([]metric.RecordOption)
	}
	kvs := make([]attribute.KeyValue, 0, len(c.base)+1)
	kvs = append(kvs, c.base...)
	kvs = append(kvs, errorTypeKey.String(errorType))
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
	if c.size.Load() < maxCachedErrorTypes {
		if _, loaded := c.opts.LoadOrStore(errorType, o); !loaded {
			c.size.Add(1)
		}
	}
	return o
}

// addOptions builds, once, the options of a counter increment with attrs.
func addOptions(attrs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}
