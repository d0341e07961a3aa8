package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TensorData returns the constant data of t (a sub-slice of the file),
// checking that its size matches the shape and type. Tensors without
// constant data (activations) give an error.
func (m *Model) TensorData(t *Tensor) ([]byte, error) {
	if int64(t.Buffer) >= int64(len(m.Buffers)) {
		return nil, fmt.Errorf("tensor %q: buffer index %d out of range (%d buffers)", t.Name, t.Buffer, len(m.Buffers))
	}
	data := m.Buffers[t.Buffer]
	if t.Buffer == 0 || len(data) == 0 {
		return nil, fmt.Errorf("tensor %q has no constant data (buffer %d is empty)", t.Name, t.Buffer)
	}
	size := t.Type.ElementSize()
	if size == 0 {
		return nil, fmt.Errorf("tensor %q: type %s has no fixed element size", t.Name, t.Type)
	}
	n, ok := t.NumElements()
	if !ok {
		return nil, fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	if int64(len(data)) != int64(n)*int64(size) {
		return nil, fmt.Errorf("tensor %q: %s %v needs %d bytes, its buffer %d holds %d", t.Name, t.Type, t.Shape, n*size, t.Buffer, len(data))
	}
	return data, nil
}

// Dequantize returns the values of the constant tensor t as float32 in
// row-major order of t.Shape. FLOAT32 tensors are returned as stored;
// UINT8, INT8, INT16 and INT32 tensors (int32 biases carry the scale
// input_scale*weight_scale the converter stored) are dequantised with
// real = scale * (q - zero_point), per tensor (one scale) or per channel
// along Quantization.QuantizedDimension. Other types, integer tensors
// without quantisation parameters and custom quantisation schemes give an
// error.
func (m *Model) Dequantize(t *Tensor) ([]float32, error) {
	switch t.Type {
	case Float32, UInt8, Int8, Int16, Int32:
	default:
		return nil, fmt.Errorf("tensor %q: type %s is not supported (supported: FLOAT32, and UINT8, INT8, INT16, INT32 with affine quantisation)", t.Name, t.Type)
	}
	data, err := m.TensorData(t)
	if err != nil {
		return nil, err
	}
	n := len(data) / t.Type.ElementSize()
	out := make([]float32, n)
	if t.Type == Float32 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return out, nil
	}
	scale, zero, channel, err := quantParams(t)
	if err != nil {
		return nil, err
	}
	for i := range out {
		var q int64
		switch t.Type {
		case UInt8:
			q = int64(data[i])
		case Int8:
			q = int64(int8(data[i]))
		case Int16:
			q = int64(int16(binary.LittleEndian.Uint16(data[2*i:])))
		case Int32:
			q = int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		}
		c := channel(i)
		out[i] = float32(float64(scale[c]) * float64(q-zero[c]))
	}
	return out, nil
}

// quantParams returns the per-channel scales and zero points of t (one
// entry for per-tensor quantisation) and the function mapping a flat
// element index to its channel.
func quantParams(t *Tensor) (scale []float32, zero []int64, channel func(int) int, err error) {
	q := t.Quantization
	if q == nil || len(q.Scale) == 0 {
		return nil, nil, nil, fmt.Errorf("tensor %q: %s tensor without quantisation scale", t.Name, t.Type)
	}
	if q.HasDetails {
		return nil, nil, nil, fmt.Errorf("tensor %q: custom quantisation (QuantizationDetails) is not supported", t.Name)
	}
	scale = q.Scale
	zero = q.ZeroPoint
	switch {
	case len(zero) == 0:
		zero = make([]int64, len(scale))
	case len(zero) == 1 && len(scale) > 1:
		z := zero[0]
		zero = make([]int64, len(scale))
		for i := range zero {
			zero[i] = z
		}
	case len(zero) != len(scale):
		return nil, nil, nil, fmt.Errorf("tensor %q: %d scales but %d zero points", t.Name, len(scale), len(zero))
	}
	for i, s := range scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, nil, nil, fmt.Errorf("tensor %q: quantisation scale %d is %g (must be positive and finite)", t.Name, i, s)
		}
	}
	if len(scale) == 1 {
		return scale, zero, func(int) int { return 0 }, nil
	}
	dim := int(q.QuantizedDimension)
	if dim < 0 || dim >= len(t.Shape) {
		return nil, nil, nil, fmt.Errorf("tensor %q: quantized_dimension %d out of range for shape %v", t.Name, dim, t.Shape)
	}
	if int(t.Shape[dim]) != len(scale) {
		return nil, nil, nil, fmt.Errorf("tensor %q: %d per-channel scales for dimension %d of shape %v (size %d)", t.Name, len(scale), dim, t.Shape, t.Shape[dim])
	}
	inner := 1
	for _, d := range t.Shape[dim+1:] {
		inner *= int(d)
	}
	nc := len(scale)
	return scale, zero, func(i int) int { return (i / inner) % nc }, nil
}
