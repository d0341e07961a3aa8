package tflite

import "fmt"

// TensorType is the element type of a tensor.
type TensorType int8

// Tensor element types (schema values).
const (
	Float32    TensorType = 0
	Float16    TensorType = 1
	Int32      TensorType = 2
	UInt8      TensorType = 3
	Int64      TensorType = 4
	String     TensorType = 5
	Bool       TensorType = 6
	Int16      TensorType = 7
	Complex64  TensorType = 8
	Int8       TensorType = 9
	Float64    TensorType = 10
	Complex128 TensorType = 11
	UInt64     TensorType = 12
	Resource   TensorType = 13
	Variant    TensorType = 14
	UInt32     TensorType = 15
	UInt16     TensorType = 16
	Int4       TensorType = 17
	BFloat16   TensorType = 18
)

var tensorTypeNames = []string{"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
	"COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16",
	"INT4", "BFLOAT16"}

// String returns the schema name.
func (t TensorType) String() string {
	if t >= 0 && int(t) < len(tensorTypeNames) {
		return tensorTypeNames[t]
	}
	return fmt.Sprintf("TensorType(%d)", int(t))
}

// ElementSize returns the size in bytes of one element of the fixed-size
// numeric types, 0 for the others (string, resource, variant, int4).
func (t TensorType) ElementSize() int {
	switch t {
	case Bool, UInt8, Int8:
		return 1
	case Float16, Int16, UInt16, BFloat16:
		return 2
	case Float32, Int32, UInt32:
		return 4
	case Float64, Int64, UInt64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// BuiltinOperator is a builtin operator code.
type BuiltinOperator int32

// Builtin operator codes used by image classifiers and detectors (schema
// values; other codes are valid and print as BuiltinOperator(n)).
const (
	OpAdd                   BuiltinOperator = 0
	OpAveragePool2D         BuiltinOperator = 1
	OpConcatenation         BuiltinOperator = 2
	OpConv2D                BuiltinOperator = 3
	OpDepthwiseConv2D       BuiltinOperator = 4
	OpDequantize            BuiltinOperator = 6
	OpFullyConnected        BuiltinOperator = 9
	OpLogistic              BuiltinOperator = 14
	OpMaxPool2D             BuiltinOperator = 17
	OpMul                   BuiltinOperator = 18
	OpReLU                  BuiltinOperator = 19
	OpReLU6                 BuiltinOperator = 21
	OpReshape               BuiltinOperator = 22
	OpResizeBilinear        BuiltinOperator = 23
	OpSoftmax               BuiltinOperator = 25
	OpCustom                BuiltinOperator = 32
	OpPad                   BuiltinOperator = 34
	OpTranspose             BuiltinOperator = 39
	OpMean                  BuiltinOperator = 40
	OpSub                   BuiltinOperator = 41
	OpSqueeze               BuiltinOperator = 43
	OpQuantize              BuiltinOperator = 114
	OpHardSwish             BuiltinOperator = 117
	OpResizeNearestNeighbor BuiltinOperator = 97
)

var builtinNames = map[BuiltinOperator]string{
	OpAdd: "ADD", OpAveragePool2D: "AVERAGE_POOL_2D", OpConcatenation: "CONCATENATION",
	OpConv2D: "CONV_2D", OpDepthwiseConv2D: "DEPTHWISE_CONV_2D", OpDequantize: "DEQUANTIZE",
	OpFullyConnected: "FULLY_CONNECTED", OpLogistic: "LOGISTIC", OpMaxPool2D: "MAX_POOL_2D",
	OpMul: "MUL", OpReLU: "RELU", OpReLU6: "RELU6", OpReshape: "RESHAPE",
	OpResizeBilinear: "RESIZE_BILINEAR", OpSoftmax: "SOFTMAX", OpCustom: "CUSTOM", OpPad: "PAD",
	OpTranspose: "TRANSPOSE", OpMean: "MEAN", OpSub: "SUB", OpSqueeze: "SQUEEZE",
	OpQuantize: "QUANTIZE", OpHardSwish: "HARD_SWISH", OpResizeNearestNeighbor: "RESIZE_NEAREST_NEIGHBOR",
}

// String returns the schema name of the known codes.
func (o BuiltinOperator) String() string {
	if n, ok := builtinNames[o]; ok {
		return n
	}
	return fmt.Sprintf("BuiltinOperator(%d)", int(o))
}
