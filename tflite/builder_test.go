package tflite

import (
	"encoding/binary"
	"math"
)

// A minimal FlatBuffer writer for tests: objects are laid out front to back
// (every referenced object after its referrer, so unsigned offsets stay
// positive), vtables just before their tables. It writes what the reader
// needs, nothing more (no alignment, no vtable sharing).

// fbObj is a table, vector or string to serialise.
type fbObj interface{}

// fbTable lists a table's fields by index; a field value is a scalar (uint8,
// int8, int32, uint32, uint64, float32, bool) or an fbObj reference. Absent
// fields are nil.
type fbTable []any

// fbVec is a vector of scalars or of references.
type fbVec []any

// fbString is a string object.
type fbString string

// fbBytes is a [ubyte] vector.
type fbBytes []byte

type fbWriter struct{ b []byte }

func (w *fbWriter) put(v any) {
	switch x := v.(type) {
	case uint8:
		w.b = append(w.b, x)
	case int8:
		w.b = append(w.b, uint8(x))
	case bool:
		if x {
			w.b = append(w.b, 1)
		} else {
			w.b = append(w.b, 0)
		}
	case int32:
		w.b = binary.LittleEndian.AppendUint32(w.b, uint32(x))
	case uint32:
		w.b = binary.LittleEndian.AppendUint32(w.b, x)
	case int64:
		w.b = binary.LittleEndian.AppendUint64(w.b, uint64(x))
	case uint64:
		w.b = binary.LittleEndian.AppendUint64(w.b, x)
	case float32:
		w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(x))
	default:
		panic("fbWriter: unsupported scalar")
	}
}

func isRef(v any) bool {
	switch v.(type) {
	case fbTable, fbVec, fbString, fbBytes:
		return true
	}
	return false
}

func scalarSize(v any) int {
	switch v.(type) {
	case uint8, int8, bool:
		return 1
	case int32, uint32, float32:
		return 4
	case int64, uint64:
		return 8
	}
	return 4 // references
}

// write serialises o at the end of the buffer and returns its position.
func (w *fbWriter) write(o fbObj) int {
	type patch struct {
		at  int
		obj fbObj
	}
	var patches []patch
	var pos int
	switch x := o.(type) {
	case fbTable:
		// Field offsets within the table: 4 bytes of soffset, then fields.
		offs := make([]int, len(x))
		size := 4
		for i, v := range x {
			if v == nil {
				continue
			}
			offs[i] = size
			size += scalarSize(v)
		}
		vt := len(w.b)
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+2*len(x)))
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(size))
		for _, o := range offs {
			w.b = binary.LittleEndian.AppendUint16(w.b, uint16(o))
		}
		pos = len(w.b)
		w.put(int32(pos - vt))
		for _, v := range x {
			if v == nil {
				continue
			}
			if isRef(v) {
				patches = append(patches, patch{len(w.b), v})
				w.put(uint32(0))
			} else {
				w.put(v)
			}
		}
	case fbVec:
		pos = len(w.b)
		w.put(uint32(len(x)))
		for _, v := range x {
			if isRef(v) {
				patches = append(patches, patch{len(w.b), v})
				w.put(uint32(0))
			} else {
				w.put(v)
			}
		}
	case fbString:
		pos = len(w.b)
		w.put(uint32(len(x)))
		w.b = append(w.b, x...)
		w.b = append(w.b, 0)
	case fbBytes:
		pos = len(w.b)
		w.put(uint32(len(x)))
		w.b = append(w.b, x...)
	default:
		panic("fbWriter: unsupported object")
	}
	for _, p := range patches {
		target := w.write(p.obj)
		binary.LittleEndian.PutUint32(w.b[p.at:], uint32(target-p.at))
	}
	return pos
}

// buildFile serialises root as a FlatBuffer file with the given identifier.
func buildFile(root fbTable, ident string) []byte {
	w := &fbWriter{b: make([]byte, 8)}
	copy(w.b[4:], ident)
	pos := w.write(root)
	binary.LittleEndian.PutUint32(w.b[0:], uint32(pos))
	return w.b
}

// tinyModel is a two-operator model: a CONV_2D with per-channel int8
// weights and int32 bias, and an operator whose code needs the int32
// builtin_code field (deprecated_builtin_code holds 127).
func tinyModel() []byte {
	quant := func(scales []float32, zps []int64, dim int32) fbTable {
		sv, zv := fbVec{}, fbVec{}
		for _, s := range scales {
			sv = append(sv, s)
		}
		for _, z := range zps {
			zv = append(zv, z)
		}
		return fbTable{nil, nil, sv, zv, nil, nil, dim}
	}
	tensor := func(name string, shape []int32, typ TensorType, buf uint32, q fbTable) fbTable {
		sh := fbVec{}
		for _, d := range shape {
			sh = append(sh, d)
		}
		t := fbTable{sh, int8(typ), buf, fbString(name), nil}
		if q != nil {
			t[4] = q
		}
		return t
	}
	w := []byte{1, 0xff, 2, 0xfe, 3, 0xfd} // int8 [2,1,1,3]: 1,-1,2 / -2,3,-3
	bias := binary.LittleEndian.AppendUint32(nil, uint32(100))
	bias = binary.LittleEndian.AppendUint32(bias, uint32(0xffffff9c)) // -100
	tensors := fbVec{
		tensor("in", []int32{1, 4, 4, 3}, UInt8, 0, quant([]float32{0.5}, []int64{128}, 0)),
		tensor("w", []int32{2, 1, 1, 3}, Int8, 1, quant([]float32{0.25, 0.5}, []int64{0, 0}, 0)),
		tensor("b", []int32{2}, Int32, 2, quant([]float32{0.125, 0.25}, []int64{0, 0}, 0)),
		tensor("out", []int32{1, 4, 4, 2}, UInt8, 0, quant([]float32{0.1}, []int64{3}, 0)),
		tensor("out2", []int32{1, 4, 4, 2}, Float32, 0, nil),
	}
	conv := fbTable{uint32(0), fbVec{int32(0), int32(1), int32(2)}, fbVec{int32(3)}, uint8(optConv2D),
		fbTable{int8(PaddingSame), int32(2), int32(1), int8(ActReLU6)}}
	other := fbTable{uint32(1), fbVec{int32(3), int32(-1)}, fbVec{int32(4)}}
	sg := fbTable{tensors, fbVec{int32(0)}, fbVec{int32(4)}, fbVec{conv, other}, fbString("main")}
	codes := fbVec{
		fbTable{int8(OpConv2D), nil, int32(2)},
		fbTable{int8(127), nil, int32(1), int32(150)},
	}
	buffers := fbVec{fbTable{}, fbTable{fbBytes(w)}, fbTable{fbBytes(bias)}}
	root := fbTable{uint32(3), codes, fbVec{sg}, fbString("tiny"), buffers}
	return buildFile(root, FileIdentifier)
}
