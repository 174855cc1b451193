package palisadegrpc_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/palisade-go/palisade/palisadegrpc"
)

var registerOnce sync.Once

// TestIdempotentByProto registers, as generated code would, a proto file
// whose methods declare their idempotency levels.
func TestIdempotentByProto(t *testing.T) {
	method := func(name string, level descriptorpb.MethodOptions_IdempotencyLevel) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name:       proto.String(name),
			InputType:  proto.String(".google.protobuf.StringValue"),
			OutputType: proto.String(".google.protobuf.StringValue"),
			Options:    &descriptorpb.MethodOptions{IdempotencyLevel: level.Enum()},
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("palisade/test/idempotency.proto"),
		Package:    proto.String("palisade.idempotency"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Store"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Get", descriptorpb.MethodOptions_NO_SIDE_EFFECTS),
				method("Put", descriptorpb.MethodOptions_IDEMPOTENT),
				method("Append", descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN),
			},
		}},
	}
	registerOnce.Do(func() { // once per process: -count=N runs the test N times
		fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
		require.NoError(t, err)
		require.NoError(t, protoregistry.GlobalFiles.RegisterFile(fd))
	})

	for m, want := range map[string]bool{
		"/palisade.idempotency.Store/Get":     true,
		"/palisade.idempotency.Store/Put":     true,
		"/palisade.idempotency.Store/Append":  false,
		"/palisade.idempotency.Store/Missing": false,
		"/palisade.idempotency.Nothing/Get":   false,
		"not a method":                        false,
		methodUnary:                           false, // described by hand: not registered
	} {
		assert.Equal(t, want, palisadegrpc.IdempotentByProto(m), m)
		assert.Equal(t, want, palisadegrpc.IdempotentByProto(m), m+", cached")
	}
}
