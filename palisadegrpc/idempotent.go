package palisadegrpc

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// IdempotentByProto reports whether a method's proto definition declares
// it safe to repeat:
//
//	rpc GetItem(GetItemRequest) returns (Item) {
//		option idempotency_level = NO_SIDE_EFFECTS; // or IDEMPOTENT
//	}
//
// It looks the method up by its full name ("/package.Service/Method") in
// protoregistry.GlobalFiles, where generated code registers its files at
// init, and remembers the answer, whatever it is. A method it cannot find
// is not idempotent. Use it
// as
//
//	palisadegrpc.WithIdempotentFunc(palisadegrpc.IdempotentByProto)
func IdempotentByProto(fullMethod string) bool {
	if v, ok := idempotentByProto.Load(fullMethod); ok {
		return v.(bool)
	}
	// Generated code registers its files at init, before any call; the
	// methods a program calls are few, so the cache stays small.
	v := lookUpIdempotency(fullMethod)
	idempotentByProto.Store(fullMethod, v)
	return v
}

var idempotentByProto sync.Map // full method name → bool

func lookUpIdempotency(fullMethod string) bool {
	name := strings.TrimPrefix(fullMethod, "/")
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name[:i] + "." + name[i+1:]))
	if err != nil {
		return false
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
		return true
	}
	return false
}
