package onnxexport

import (
	"encoding/binary"
	"math"
)

// The ONNX model is a protocol buffer (onnx.proto, proto2). The few
// messages an exported model needs are written here field by field: a
// message is a sequence of (field number, wire type) keys and values, with
// varints for integers, 4 little-endian bytes for a float and a length
// prefix for strings, bytes, packed arrays and nested messages.

// Wire types of protocol buffers.
const (
	wireVarint  = 0
	wireFixed32 = 5
	wireBytes   = 2
)

// pb accumulates one encoded message.
type pb struct {
	b []byte
}

func (p *pb) key(field, wire int) {
	p.b = binary.AppendUvarint(p.b, uint64(field)<<3|uint64(wire))
}

// int writes an integer field (int32, int64 and enums are varints; negative
// values take ten bytes, as protobuf encodes them).
func (p *pb) int(field int, v int64) {
	p.key(field, wireVarint)
	p.b = binary.AppendUvarint(p.b, uint64(v))
}

// float writes a float field.
func (p *pb) float(field int, v float32) {
	p.key(field, wireFixed32)
	p.b = binary.LittleEndian.AppendUint32(p.b, math.Float32bits(v))
}

// bytes writes a bytes field.
func (p *pb) bytes(field int, v []byte) {
	p.key(field, wireBytes)
	p.b = binary.AppendUvarint(p.b, uint64(len(v)))
	p.b = append(p.b, v...)
}

// str writes a string field.
func (p *pb) str(field int, s string) {
	p.key(field, wireBytes)
	p.b = binary.AppendUvarint(p.b, uint64(len(s)))
	p.b = append(p.b, s...)
}

// msg writes a nested message built by fill.
func (p *pb) msg(field int, fill func(*pb)) {
	var m pb
	fill(&m)
	p.bytes(field, m.b)
}

// ints writes a packed repeated integer field.
func (p *pb) ints(field int, vs []int64) {
	var m []byte
	for _, v := range vs {
		m = binary.AppendUvarint(m, uint64(v))
	}
	p.bytes(field, m)
}

// Field numbers of onnx.proto.
const (
	modelIRVersion     = 1
	modelProducerName  = 2
	modelProducerVer   = 3
	modelDocString     = 6
	modelGraph         = 7
	modelOpsetImport   = 8
	modelMetadataProps = 14

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphDocString   = 10
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName   = 1
	attrF      = 2
	attrI      = 3
	attrS      = 4
	attrFloats = 7
	attrInts   = 8
	attrType   = 20

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9

	valueName      = 1
	valueType      = 2
	valueDocString = 3

	typeTensor       = 1
	tensorElemType   = 1
	tensorShape      = 2
	shapeDim         = 1
	dimValue         = 1
	dimParam         = 2
	attrTypeFloat    = 1
	attrTypeInt      = 2
	attrTypeString   = 3
	attrTypeFloats   = 6
	attrTypeInts     = 7
	dataTypeFloat    = 1
	dataTypeInt64    = 7
	irVersionOpset17 = 8
)
