// Package tflite reads TensorFlow Lite model files (the "TFL3" FlatBuffer
// format): operator codes, subgraphs with their tensors (name, shape, type,
// quantisation) and operators (inputs, outputs and the builtin options of
// the common convolution, pooling, fully-connected, add, reshape and softmax
// operators), and the constant buffers; and dequantises constant tensors to
// float32.
//
// The reader is written directly over the FlatBuffer bytes (vtable look-ups
// for the few fields of the TFLite schema it needs). Every read is bounds
// checked: a file that is not TFLite, a truncated file or one with
// out-of-range offsets or indices gives an error, never a panic.
package tflite

import (
	"fmt"
	"os"
)

// FileIdentifier is the FlatBuffer file identifier of TFLite files (bytes
// 4..7).
const FileIdentifier = "TFL3"

// Model is a decoded TFLite file. Buffer data are sub-slices of the bytes
// given to Read: they must not be modified while the Model is in use.
type Model struct {
	// Version of the schema the file was written with (3 for current files).
	Version uint32
	// Description is the converter's free-text description.
	Description string
	// OperatorCodes are the operator kinds referenced by Operator.OpcodeIndex.
	OperatorCodes []OperatorCode
	// Subgraphs; the first is the main model.
	Subgraphs []Subgraph
	// Buffers holds the raw little-endian data of constant tensors; entry 0
	// is the empty sentinel used by tensors without data.
	Buffers [][]byte
}

// OperatorCode identifies an operator kind.
type OperatorCode struct {
	// Builtin is the builtin operator (BuiltinCustom for custom operators).
	// Newer files store it in an int32 field (builtin_code) and keep the
	// byte field deprecated_builtin_code for old readers (127 for codes
	// above 126); the reader takes the larger of the two, as TFLite does.
	Builtin BuiltinOperator
	// CustomCode names a custom operator.
	CustomCode string
	// Version of the operator.
	Version int32
}

// Subgraph is a graph of operators over tensors.
type Subgraph struct {
	Name string
	// Tensors of the subgraph, referenced by index from Inputs, Outputs and
	// the operators.
	Tensors []Tensor
	// Inputs and Outputs are the tensor indices fed and produced by the
	// subgraph.
	Inputs, Outputs []int32
	// Operators in execution order.
	Operators []Operator
}

// Tensor describes one tensor of a subgraph.
type Tensor struct {
	Name string
	// Shape in TFLite order (NHWC for images; OHWI for convolution kernels,
	// [1, kh, kw, C] for depthwise kernels).
	Shape []int32
	Type  TensorType
	// Buffer is the index into Model.Buffers of the constant data (0: none).
	Buffer uint32
	// Quantization is nil for tensors without quantisation parameters.
	Quantization *Quantization
	// IsVariable marks mutable tensors (state of recurrent operators).
	IsVariable bool
}

// Quantization holds the affine quantisation parameters of a tensor:
// real = Scale * (q - ZeroPoint), per tensor (one scale) or per channel
// along QuantizedDimension (one scale per index of that axis).
type Quantization struct {
	Min, Max  []float32
	Scale     []float32
	ZeroPoint []int64
	// QuantizedDimension is the axis the per-channel parameters run along.
	QuantizedDimension int32
	// HasDetails is true when the tensor uses a custom quantisation scheme
	// (the schema's QuantizationDetails union), which this package does not
	// decode: the affine parameters then do not apply.
	HasDetails bool
}

// Operator is one node of a subgraph.
type Operator struct {
	// OpcodeIndex indexes Model.OperatorCodes.
	OpcodeIndex uint32
	// Inputs and Outputs are tensor indices; -1 marks an omitted optional
	// input.
	Inputs, Outputs []int32
	// OptionsType is the schema's BuiltinOptions union type (0: none).
	OptionsType uint8
	// Options holds the decoded builtin options for the types this package
	// knows (*Conv2DOptions, *DepthwiseConv2DOptions, *Pool2DOptions,
	// *FullyConnectedOptions, *AddOptions, *SoftmaxOptions,
	// *ReshapeOptions, *ConcatenationOptions), else nil.
	Options any
}

// Padding is a convolution or pooling padding scheme.
type Padding int8

const (
	// PaddingSame is TensorFlow's "SAME" padding (output ceil(n/stride),
	// the extra padding row/column after).
	PaddingSame Padding = 0
	// PaddingValid does not pad.
	PaddingValid Padding = 1
)

// String returns the schema name.
func (p Padding) String() string {
	switch p {
	case PaddingSame:
		return "SAME"
	case PaddingValid:
		return "VALID"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// Activation is a fused activation function.
type Activation int8

// Fused activation functions.
const (
	ActNone Activation = iota
	ActReLU
	ActReLUN1To1
	ActReLU6
	ActTanh
	ActSignBit
)

// String returns the schema name.
func (a Activation) String() string {
	names := []string{"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"}
	if a >= 0 && int(a) < len(names) {
		return names[a]
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// Conv2DOptions are the options of CONV_2D.
type Conv2DOptions struct {
	Padding              Padding
	StrideW, StrideH     int32
	Activation           Activation
	DilationW, DilationH int32
}

// DepthwiseConv2DOptions are the options of DEPTHWISE_CONV_2D.
type DepthwiseConv2DOptions struct {
	Padding              Padding
	StrideW, StrideH     int32
	DepthMultiplier      int32
	Activation           Activation
	DilationW, DilationH int32
}

// Pool2DOptions are the options of AVERAGE_POOL_2D, MAX_POOL_2D and
// L2_POOL_2D.
type Pool2DOptions struct {
	Padding                   Padding
	StrideW, StrideH          int32
	FilterWidth, FilterHeight int32
	Activation                Activation
}

// FullyConnectedOptions are the options of FULLY_CONNECTED.
type FullyConnectedOptions struct {
	Activation    Activation
	WeightsFormat int8
	KeepNumDims   bool
}

// AddOptions are the options of ADD.
type AddOptions struct {
	Activation Activation
}

// SoftmaxOptions are the options of SOFTMAX.
type SoftmaxOptions struct {
	Beta float32
}

// ReshapeOptions are the options of RESHAPE.
type ReshapeOptions struct {
	NewShape []int32
}

// ConcatenationOptions are the options of CONCATENATION.
type ConcatenationOptions struct {
	Axis       int32
	Activation Activation
}

// BuiltinOptions union type ids of the decoded options.
const (
	optConv2D         = 1
	optDepthwiseConv  = 2
	optPool2D         = 5
	optFullyConnected = 8
	optSoftmax        = 9
	optConcatenation  = 10
	optAdd            = 11
	optReshape        = 17
)

// ReadFile reads and decodes the TFLite file at path; errors name the file.
func ReadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	m, err := Read(b)
	if err != nil {
		return nil, fmt.Errorf("tflite file %s: %w", path, err)
	}
	return m, nil
}

// Read decodes a TFLite model held in memory. The model's buffers refer to
// data (no copy).
func Read(data []byte) (*Model, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("not a TFLite file: %d bytes, too short for a FlatBuffer header", len(data))
	}
	if id := string(data[4:8]); id != FileIdentifier {
		return nil, fmt.Errorf("not a TFLite file: file identifier %q, want %q", id, FileIdentifier)
	}
	p := &fbuf{b: data, budget: 16*len(data) + 1024}
	m, err := decodeModel(p)
	if err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeModel decodes the root table.
func decodeModel(p *fbuf) (*Model, error) {
	root := p.table(p.indirect(0, "root offset"), "model")
	if p.err != nil {
		return nil, p.err
	}
	m := &Model{}
	m.Version = p.fieldU32(root, 0, 0, "model version")
	m.Description = p.fieldString(root, 3, "model description")
	for _, t := range p.fieldTables(root, 1, "operator codes") {
		m.OperatorCodes = append(m.OperatorCodes, decodeOperatorCode(p, t))
	}
	if p.err != nil {
		return nil, p.err
	}
	for i, t := range p.fieldTables(root, 4, "buffers") {
		m.Buffers = append(m.Buffers, decodeBuffer(p, t, i))
	}
	if p.err != nil {
		return nil, p.err
	}
	for i, t := range p.fieldTables(root, 2, "subgraphs") {
		sg := decodeSubgraph(p, t, i)
		if p.err != nil {
			return nil, p.err
		}
		m.Subgraphs = append(m.Subgraphs, sg)
	}
	if p.err != nil {
		return nil, p.err
	}
	return m, nil
}

func decodeOperatorCode(p *fbuf, t table) OperatorCode {
	const what = "operator code"
	dep := int32(int8(p.fieldU8(t, 0, 0, what)))
	code := p.fieldI32(t, 3, 0, what)
	return OperatorCode{
		Builtin:    BuiltinOperator(max(dep, code)),
		CustomCode: p.fieldString(t, 1, what+" custom code"),
		Version:    p.fieldI32(t, 2, 1, what+" version"),
	}
}

// decodeBuffer returns the data of buffer i: the inline data vector, or,
// in files over 2 GiB, the (offset, size) region of the file.
func decodeBuffer(p *fbuf, t table, i int) []byte {
	what := fmt.Sprintf("buffer %d", i)
	data := p.fieldBytes(t, 0, what)
	off := p.fieldU64(t, 1, 0, what+" offset")
	size := p.fieldU64(t, 2, 0, what+" size")
	if off > 1 && p.err == nil {
		if off > uint64(len(p.b)) || size > uint64(len(p.b))-off {
			p.failf("%s: data at offset %d, %d bytes, lies outside the %d-byte file", what, off, size, len(p.b))
			return nil
		}
		return p.b[off : off+size : off+size]
	}
	return data
}

func decodeSubgraph(p *fbuf, t table, i int) Subgraph {
	what := fmt.Sprintf("subgraph %d", i)
	sg := Subgraph{Name: p.fieldString(t, 4, what+" name")}
	sg.Inputs = p.fieldI32s(t, 1, what+" inputs")
	sg.Outputs = p.fieldI32s(t, 2, what+" outputs")
	for k, tt := range p.fieldTables(t, 0, what+" tensors") {
		sg.Tensors = append(sg.Tensors, decodeTensor(p, tt, fmt.Sprintf("%s tensor %d", what, k)))
		if p.err != nil {
			return sg
		}
	}
	for k, ot := range p.fieldTables(t, 3, what+" operators") {
		sg.Operators = append(sg.Operators, decodeOperator(p, ot, fmt.Sprintf("%s operator %d", what, k)))
		if p.err != nil {
			return sg
		}
	}
	return sg
}

func decodeTensor(p *fbuf, t table, what string) Tensor {
	tn := Tensor{
		Shape:      p.fieldI32s(t, 0, what+" shape"),
		Type:       TensorType(int8(p.fieldU8(t, 1, 0, what+" type"))),
		Buffer:     p.fieldU32(t, 2, 0, what+" buffer"),
		Name:       p.fieldString(t, 3, what+" name"),
		IsVariable: p.fieldU8(t, 5, 0, what+" is_variable") != 0,
	}
	if qt, ok := p.fieldTable(t, 4, what+" quantization"); ok {
		q := &Quantization{
			Min:                p.fieldF32s(qt, 0, what+" quantization min"),
			Max:                p.fieldF32s(qt, 1, what+" quantization max"),
			Scale:              p.fieldF32s(qt, 2, what+" quantization scale"),
			ZeroPoint:          p.fieldI64s(qt, 3, what+" quantization zero_point"),
			HasDetails:         p.fieldU8(qt, 4, 0, what+" quantization details") != 0,
			QuantizedDimension: p.fieldI32(qt, 6, 0, what+" quantization quantized_dimension"),
		}
		// Converters write an empty quantization table for float tensors.
		if len(q.Scale) > 0 || len(q.ZeroPoint) > 0 || len(q.Min) > 0 || len(q.Max) > 0 || q.HasDetails {
			tn.Quantization = q
		}
	}
	return tn
}

func decodeOperator(p *fbuf, t table, what string) Operator {
	op := Operator{
		OpcodeIndex: p.fieldU32(t, 0, 0, what+" opcode_index"),
		Inputs:      p.fieldI32s(t, 1, what+" inputs"),
		Outputs:     p.fieldI32s(t, 2, what+" outputs"),
		OptionsType: p.fieldU8(t, 3, 0, what+" builtin_options_type"),
	}
	if op.OptionsType == 0 {
		return op
	}
	ot, ok := p.fieldTable(t, 4, what+" builtin_options")
	if !ok {
		return op
	}
	w := what + " options"
	switch op.OptionsType {
	case optConv2D:
		op.Options = &Conv2DOptions{
			Padding:    Padding(p.fieldU8(ot, 0, 0, w)),
			StrideW:    p.fieldI32(ot, 1, 0, w),
			StrideH:    p.fieldI32(ot, 2, 0, w),
			Activation: Activation(p.fieldU8(ot, 3, 0, w)),
			DilationW:  p.fieldI32(ot, 4, 1, w),
			DilationH:  p.fieldI32(ot, 5, 1, w),
		}
	case optDepthwiseConv:
		op.Options = &DepthwiseConv2DOptions{
			Padding:         Padding(p.fieldU8(ot, 0, 0, w)),
			StrideW:         p.fieldI32(ot, 1, 0, w),
			StrideH:         p.fieldI32(ot, 2, 0, w),
			DepthMultiplier: p.fieldI32(ot, 3, 0, w),
			Activation:      Activation(p.fieldU8(ot, 4, 0, w)),
			DilationW:       p.fieldI32(ot, 5, 1, w),
			DilationH:       p.fieldI32(ot, 6, 1, w),
		}
	case optPool2D:
		op.Options = &Pool2DOptions{
			Padding:      Padding(p.fieldU8(ot, 0, 0, w)),
			StrideW:      p.fieldI32(ot, 1, 0, w),
			StrideH:      p.fieldI32(ot, 2, 0, w),
			FilterWidth:  p.fieldI32(ot, 3, 0, w),
			FilterHeight: p.fieldI32(ot, 4, 0, w),
			Activation:   Activation(p.fieldU8(ot, 5, 0, w)),
		}
	case optFullyConnected:
		op.Options = &FullyConnectedOptions{
			Activation:    Activation(p.fieldU8(ot, 0, 0, w)),
			WeightsFormat: int8(p.fieldU8(ot, 1, 0, w)),
			KeepNumDims:   p.fieldU8(ot, 2, 0, w) != 0,
		}
	case optSoftmax:
		op.Options = &SoftmaxOptions{Beta: p.fieldF32(ot, 0, 0, w)}
	case optConcatenation:
		op.Options = &ConcatenationOptions{
			Axis:       p.fieldI32(ot, 0, 0, w),
			Activation: Activation(p.fieldU8(ot, 1, 0, w)),
		}
	case optAdd:
		op.Options = &AddOptions{Activation: Activation(p.fieldU8(ot, 0, 0, w))}
	case optReshape:
		op.Options = &ReshapeOptions{NewShape: p.fieldI32s(ot, 0, w)}
	}
	return op
}

// validate checks the cross references (tensor, buffer and operator code
// indices) so that users of a Model can index without further checks.
func (m *Model) validate() error {
	for si := range m.Subgraphs {
		sg := &m.Subgraphs[si]
		nt := int32(len(sg.Tensors))
		checkIdx := func(what string, idx []int32, optional bool) error {
			for _, i := range idx {
				if (i == -1 && optional) || (i >= 0 && i < nt) {
					continue
				}
				return fmt.Errorf("subgraph %d: %s refers to tensor %d, but the subgraph has %d tensors", si, what, i, nt)
			}
			return nil
		}
		if err := checkIdx("inputs", sg.Inputs, false); err != nil {
			return err
		}
		if err := checkIdx("outputs", sg.Outputs, false); err != nil {
			return err
		}
		for ti, t := range sg.Tensors {
			if int64(t.Buffer) >= int64(len(m.Buffers)) {
				return fmt.Errorf("subgraph %d tensor %d %q: buffer index %d out of range (%d buffers)", si, ti, t.Name, t.Buffer, len(m.Buffers))
			}
			for _, d := range t.Shape {
				if d < 0 {
					return fmt.Errorf("subgraph %d tensor %d %q: negative dimension in shape %v", si, ti, t.Name, t.Shape)
				}
			}
		}
		for oi, op := range sg.Operators {
			if int64(op.OpcodeIndex) >= int64(len(m.OperatorCodes)) {
				return fmt.Errorf("subgraph %d operator %d: opcode index %d out of range (%d operator codes)", si, oi, op.OpcodeIndex, len(m.OperatorCodes))
			}
			if err := checkIdx(fmt.Sprintf("operator %d inputs", oi), op.Inputs, true); err != nil {
				return err
			}
			if err := checkIdx(fmt.Sprintf("operator %d outputs", oi), op.Outputs, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// Builtin returns the builtin operator of op (op must belong to m; Read
// validated its opcode index).
func (m *Model) Builtin(op *Operator) BuiltinOperator {
	if int64(op.OpcodeIndex) >= int64(len(m.OperatorCodes)) {
		return BuiltinOperator(-1)
	}
	return m.OperatorCodes[op.OpcodeIndex].Builtin
}

// NumElements returns the product of the shape (1 for a scalar) and
// whether it fits in an int without overflow.
func (t *Tensor) NumElements() (int, bool) {
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return 0, false
		}
		n *= int64(d)
		if n > 1<<40 {
			return 0, false
		}
	}
	return int(n), true
}

// ShapeInts returns the shape as []int.
func (t *Tensor) ShapeInts() []int {
	out := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		out[i] = int(d)
	}
	return out
}
