package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"
)

// attr is one attribute of a node.
type attr struct {
	name   string
	kind   int // attrType* of onnx.proto
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
}

func intAttr(name string, v int64) attr { return attr{name: name, kind: attrTypeInt, i: v} }

func intsAttr(name string, v ...int64) attr { return attr{name: name, kind: attrTypeInts, ints: v} }

func floatAttr(name string, v float32) attr { return attr{name: name, kind: attrTypeFloat, f: v} }

func strAttr(name, v string) attr { return attr{name: name, kind: attrTypeString, s: v} }

// node is one operator of the graph.
type node struct {
	op, name string
	in, out  []string
	attrs    []attr
}

// initializer is a constant tensor of the graph.
type initializer struct {
	name  string
	dims  []int64
	dtype int
	raw   []byte
}

// dim is a dimension of a graph input or output: a size, or a name for a
// size known only when the model runs.
type dim struct {
	value int64
	param string
}

// valueInfo describes a graph input or output.
type valueInfo struct {
	name string
	elem int
	dims []dim
	doc  string
}

// graph accumulates the nodes and constants of the model.
type graph struct {
	nodes   []node
	inits   []initializer
	used    map[string]bool
	inputs  []valueInfo
	outputs []valueInfo
}

func newGraph() *graph { return &graph{used: map[string]bool{}} }

// unique returns name, or name with a number appended when taken, and
// marks it taken.
func (g *graph) unique(name string) string {
	n := name
	for i := 1; g.used[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	g.used[n] = true
	return n
}

// op adds a node of one output and returns the output's name.
func (g *graph) op(opType string, in []string, attrs ...attr) string {
	return g.opNamed(opType, opType, in, attrs...)
}

// opNamed is op with the node and output named after name.
func (g *graph) opNamed(opType, name string, in []string, attrs ...attr) string {
	out := g.unique(name)
	g.nodes = append(g.nodes, node{op: opType, name: out, in: in, out: []string{out}, attrs: attrs})
	return out
}

// floats adds a float32 constant of the given dimensions and returns its
// name.
func (g *graph) floats(name string, data []float32, dims ...int64) string {
	if n := product(dims); n != int64(len(data)) {
		panic(fmt.Sprintf("onnxexport: constant %s: %d values for dimensions %v", name, len(data), dims))
	}
	raw := make([]byte, 0, 4*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	name = g.unique(name)
	g.inits = append(g.inits, initializer{name: name, dims: dims, dtype: dataTypeFloat, raw: raw})
	return name
}

// int64s adds an int64 constant of the given dimensions and returns its
// name.
func (g *graph) int64s(name string, data []int64, dims ...int64) string {
	if n := product(dims); n != int64(len(data)) {
		panic(fmt.Sprintf("onnxexport: constant %s: %d values for dimensions %v", name, len(data), dims))
	}
	raw := make([]byte, 0, 8*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	name = g.unique(name)
	g.inits = append(g.inits, initializer{name: name, dims: dims, dtype: dataTypeInt64, raw: raw})
	return name
}

// scalar adds a float32 scalar constant.
func (g *graph) scalar(name string, v float32) string { return g.floats(name, []float32{v}) }

func product(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// modelProto is the ModelProto to encode.
type modelProto struct {
	producer, version, doc, graphName string
	opset                             int64
	meta                              [][2]string
	g                                 *graph
}

// encode returns the ModelProto's bytes.
func (m *modelProto) encode() []byte {
	var p pb
	p.int(modelIRVersion, irVersionOpset17)
	p.str(modelProducerName, m.producer)
	p.str(modelProducerVer, m.version)
	if m.doc != "" {
		p.str(modelDocString, m.doc)
	}
	p.msg(modelGraph, func(gp *pb) { m.g.encode(gp, m.graphName) })
	p.msg(modelOpsetImport, func(o *pb) {
		o.str(opsetDomain, "")
		o.int(opsetVersion, m.opset)
	})
	for _, kv := range m.meta {
		p.msg(modelMetadataProps, func(e *pb) {
			e.str(entryKey, kv[0])
			e.str(entryValue, kv[1])
		})
	}
	return p.b
}

// encode writes the GraphProto's fields into p.
func (g *graph) encode(p *pb, name string) {
	for _, n := range g.nodes {
		p.msg(graphNode, func(np *pb) { n.encode(np) })
	}
	p.str(graphName, name)
	for _, t := range g.inits {
		p.msg(graphInitializer, func(tp *pb) {
			tp.ints(tensorDims, t.dims)
			tp.int(tensorDataType, int64(t.dtype))
			tp.str(tensorName, t.name)
			tp.bytes(tensorRawData, t.raw)
		})
	}
	for _, v := range g.inputs {
		p.msg(graphInput, func(vp *pb) { v.encode(vp) })
	}
	for _, v := range g.outputs {
		p.msg(graphOutput, func(vp *pb) { v.encode(vp) })
	}
}

// encode writes the NodeProto's fields into p.
func (n *node) encode(p *pb) {
	for _, in := range n.in {
		p.str(nodeInput, in)
	}
	for _, out := range n.out {
		p.str(nodeOutput, out)
	}
	p.str(nodeName, n.name)
	p.str(nodeOpType, n.op)
	for _, a := range n.attrs {
		p.msg(nodeAttribute, func(ap *pb) {
			ap.str(attrName, a.name)
			switch a.kind {
			case attrTypeInt:
				ap.int(attrI, a.i)
			case attrTypeFloat:
				ap.float(attrF, a.f)
			case attrTypeString:
				ap.str(attrS, a.s)
			case attrTypeInts:
				ap.ints(attrInts, a.ints)
			case attrTypeFloats:
				var fp pb
				for _, f := range a.floats {
					fp.b = binary.LittleEndian.AppendUint32(fp.b, math.Float32bits(f))
				}
				ap.bytes(attrFloats, fp.b)
			}
			ap.int(attrType, int64(a.kind))
		})
	}
}

// encode writes the ValueInfoProto's fields into p.
func (v *valueInfo) encode(p *pb) {
	p.str(valueName, v.name)
	p.msg(valueType, func(tp *pb) {
		tp.msg(typeTensor, func(tt *pb) {
			tt.int(tensorElemType, int64(v.elem))
			tt.msg(tensorShape, func(sp *pb) {
				for _, d := range v.dims {
					sp.msg(shapeDim, func(dp *pb) {
						if d.param != "" {
							dp.str(dimParam, d.param)
						} else {
							dp.int(dimValue, d.value)
						}
					})
				}
			})
		})
	})
	if v.doc != "" {
		p.str(valueDocString, v.doc)
	}
}
