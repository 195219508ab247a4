// Package rawcodec is a gRPC client codec that encodes requests as
// protobuf and keeps responses as the bytes that came off the wire,
// undecoded: for load clients and benchmarks that measure a server, not
// the client's decoding on the same cores.
package rawcodec

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Bytes is a response kept as it came off the wire.
type Bytes []byte

// Codec encodes proto.Message requests and decodes responses into
// *Bytes only. Use it with grpc.ForceCodecV2.
type Codec struct{}

// Name is "proto", so that servers see an ordinary protobuf call.
func (Codec) Name() string { return "proto" }

// Marshal encodes a proto.Message.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rawcodec: cannot encode %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal keeps the response's bytes in v, a *Bytes.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*Bytes)
	if !ok {
		return fmt.Errorf("rawcodec: cannot decode into %T", v)
	}
	*b = data.Materialize()
	return nil
}
