package tflite

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

func mobilenetPath(t testing.TB) string {
	return filepath.Join(testutil.SharedDir(t, "data", "mobilenet"), "mobilenet_v2_1.0_224_quant.tflite")
}

func TestReadMobileNet(t *testing.T) {
	m, err := ReadFile(mobilenetPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || len(m.Subgraphs) != 1 {
		t.Fatalf("version %d, %d subgraphs; want 3, 1", m.Version, len(m.Subgraphs))
	}
	sg := &m.Subgraphs[0]
	if len(sg.Tensors) != 174 || len(sg.Operators) != 66 || len(m.Buffers) != 177 {
		t.Errorf("%d tensors, %d operators, %d buffers; want 174, 66, 177", len(sg.Tensors), len(sg.Operators), len(m.Buffers))
	}
	counts := map[BuiltinOperator]int{}
	for i := range sg.Operators {
		counts[m.Builtin(&sg.Operators[i])]++
	}
	want := map[BuiltinOperator]int{OpConv2D: 36, OpDepthwiseConv2D: 17, OpAdd: 10, OpAveragePool2D: 1, OpReshape: 1, OpSoftmax: 1}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("%d %s operators, want %d (all: %v)", counts[op], op, n, counts)
		}
	}

	// The input: uint8 [1,224,224,3], real = (q-128)/128.
	in := &sg.Tensors[sg.Inputs[0]]
	if in.Type != UInt8 || !equalShape(in.Shape, 1, 224, 224, 3) || in.Quantization == nil ||
		in.Quantization.Scale[0] != 1.0/128 || in.Quantization.ZeroPoint[0] != 128 {
		t.Errorf("input tensor %q: %s %v %+v", in.Name, in.Type, in.Shape, in.Quantization)
	}

	// The stem convolution: 3x3 stride 2 SAME, fused ReLU6, OHWI uint8
	// weights [32,3,3,3] and an int32 bias whose scale is input*weight.
	op := &sg.Operators[0]
	opt, ok := op.Options.(*Conv2DOptions)
	if m.Builtin(op) != OpConv2D || !ok || opt.StrideH != 2 || opt.StrideW != 2 || opt.Padding != PaddingSame || opt.Activation != ActReLU6 {
		t.Fatalf("operator 0: %s %+v", m.Builtin(op), op.Options)
	}
	w, b := &sg.Tensors[op.Inputs[1]], &sg.Tensors[op.Inputs[2]]
	if w.Type != UInt8 || !equalShape(w.Shape, 32, 3, 3, 3) || len(w.Quantization.Scale) != 1 || w.Quantization.ZeroPoint[0] != 122 {
		t.Errorf("stem weights %q: %s %v %+v", w.Name, w.Type, w.Shape, w.Quantization)
	}
	if !strings.Contains(w.Name, "MobilenetV2/Conv/") {
		t.Errorf("stem weights named %q", w.Name)
	}
	ws, bs := w.Quantization.Scale[0], b.Quantization.Scale[0]
	if rel := (float64(bs) - float64(in.Quantization.Scale[0])*float64(ws)) / float64(bs); rel > 1e-6 || rel < -1e-6 {
		t.Errorf("bias scale %g != input scale * weight scale %g", bs, in.Quantization.Scale[0]*ws)
	}
	wv, err := m.Dequantize(w)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := m.TensorData(w)
	if len(wv) != 32*27 {
		t.Fatalf("%d weights", len(wv))
	}
	for _, i := range []int{0, 100, 863} {
		if want := ws * float32(int(raw[i])-122); wv[i] != want {
			t.Errorf("weight %d = %g, want %g", i, wv[i], want)
		}
	}
	bv, err := m.Dequantize(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(bv) != 32 {
		t.Errorf("%d biases", len(bv))
	}
	// An activation tensor has no data.
	if _, err := m.Dequantize(&sg.Tensors[op.Outputs[0]]); err == nil || !strings.Contains(err.Error(), "no constant data") {
		t.Errorf("dequantising an activation: %v", err)
	}
}

func equalShape(s []int32, dims ...int32) bool {
	if len(s) != len(dims) {
		return false
	}
	for i := range s {
		if s[i] != dims[i] {
			return false
		}
	}
	return true
}

func TestReadSynthetic(t *testing.T) {
	m, err := Read(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	if m.Description != "tiny" || m.Version != 3 || len(m.OperatorCodes) != 2 || len(m.Buffers) != 3 {
		t.Fatalf("model %+v", m)
	}
	// builtin_code wins over deprecated_builtin_code (127 = "see builtin_code").
	if m.OperatorCodes[0].Builtin != OpConv2D || m.OperatorCodes[0].Version != 2 || m.OperatorCodes[1].Builtin != 150 {
		t.Errorf("operator codes %+v", m.OperatorCodes)
	}
	sg := &m.Subgraphs[0]
	if sg.Name != "main" || len(sg.Tensors) != 5 || len(sg.Operators) != 2 {
		t.Fatalf("subgraph %+v", sg)
	}
	opt := sg.Operators[0].Options.(*Conv2DOptions)
	if opt.StrideW != 2 || opt.StrideH != 1 || opt.Activation != ActReLU6 || opt.DilationW != 1 || opt.DilationH != 1 {
		t.Errorf("conv options %+v (dilations default to 1)", opt)
	}
	if got := sg.Operators[1].Inputs; len(got) != 2 || got[1] != -1 {
		t.Errorf("optional input: %v", got)
	}
	if sg.Tensors[4].Quantization != nil {
		t.Errorf("float tensor has quantisation %+v", sg.Tensors[4].Quantization)
	}
}

func TestDequantize(t *testing.T) {
	m, err := Read(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	sg := &m.Subgraphs[0]
	tests := []struct {
		name   string
		tensor *Tensor
		want   []float32
	}{
		// Per-channel int8 along dimension 0 of [2,1,1,3]: scales 0.25, 0.5.
		{"int8 per channel", &sg.Tensors[1], []float32{0.25, -0.25, 0.5, -1, 1.5, -1.5}},
		// int32 bias, per channel: 100*0.125, -100*0.25.
		{"int32 bias", &sg.Tensors[2], []float32{12.5, -25}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Dequantize(tc.tensor)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}

	// Hand-built models: uint8 per tensor, per channel on the last axis,
	// float32 passthrough, and the errors.
	f32 := binary.LittleEndian.AppendUint32(nil, 0x3fc00000) // 1.5
	hand := &Model{Buffers: [][]byte{nil, {0, 128, 255, 10}, f32, {1, 2, 3}}}
	q := func(s []float32, z []int64, dim int32) *Quantization {
		return &Quantization{Scale: s, ZeroPoint: z, QuantizedDimension: dim}
	}
	cases := []struct {
		name    string
		t       Tensor
		want    []float32
		wantErr string
	}{
		{"uint8 per tensor", Tensor{Name: "a", Shape: []int32{4}, Type: UInt8, Buffer: 1, Quantization: q([]float32{0.5}, []int64{128}, 0)},
			[]float32{-64, 0, 63.5, -59}, ""},
		{"uint8 per channel last axis", Tensor{Name: "b", Shape: []int32{2, 2}, Type: UInt8, Buffer: 1, Quantization: q([]float32{1, 2}, []int64{0, 10}, 1)},
			[]float32{0, 236, 255, 0}, ""},
		{"int8 per tensor", Tensor{Name: "c", Shape: []int32{2, 2}, Type: Int8, Buffer: 1, Quantization: q([]float32{1}, []int64{-1}, 0)},
			[]float32{1, -127, 0, 11}, ""},
		{"float32", Tensor{Name: "d", Shape: []int32{1}, Type: Float32, Buffer: 2}, []float32{1.5}, ""},
		{"float16 unsupported", Tensor{Name: "e", Shape: []int32{2}, Type: Float16, Buffer: 1, Quantization: q([]float32{1}, nil, 0)}, nil, "FLOAT16 is not supported"},
		{"no scale", Tensor{Name: "f", Shape: []int32{4}, Type: UInt8, Buffer: 1}, nil, "without quantisation scale"},
		{"custom quantisation", Tensor{Name: "g", Shape: []int32{4}, Type: UInt8, Buffer: 1, Quantization: &Quantization{Scale: []float32{1}, HasDetails: true}}, nil, "custom quantisation"},
		{"wrong channel count", Tensor{Name: "h", Shape: []int32{2, 2}, Type: UInt8, Buffer: 1, Quantization: q([]float32{1, 2, 3}, []int64{0, 0, 0}, 1)}, nil, "3 per-channel scales"},
		{"bad dimension", Tensor{Name: "i", Shape: []int32{4}, Type: UInt8, Buffer: 1, Quantization: q([]float32{1, 2}, []int64{0, 0}, 3)}, nil, "quantized_dimension 3"},
		{"size mismatch", Tensor{Name: "j", Shape: []int32{2}, Type: UInt8, Buffer: 3, Quantization: q([]float32{1}, []int64{0}, 0)}, nil, "needs 2 bytes"},
		{"zero scale", Tensor{Name: "k", Shape: []int32{4}, Type: UInt8, Buffer: 1, Quantization: q([]float32{0}, []int64{0}, 0)}, nil, "must be positive"},
		{"no data", Tensor{Name: "l", Shape: []int32{4}, Type: UInt8, Buffer: 0, Quantization: q([]float32{1}, []int64{0}, 0)}, nil, "no constant data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hand.Dequantize(&tc.t)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"`+tc.t.Name+`"`) {
					t.Fatalf("error %v, want one naming the tensor and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	good := tinyModel()
	wrongID := append([]byte(nil), good...)
	copy(wrongID[4:], "TFL2")
	badRoot := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badRoot, uint32(len(good)+100))
	badVT := append([]byte(nil), good...)
	root := int(binary.LittleEndian.Uint32(good))
	binary.LittleEndian.PutUint32(badVT[root:], 0x7fffff00) // vtable far before the file start
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "too short"},
		{"text", []byte("hello, this is not a model"), "not a TFLite file"},
		{"png header", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "not a TFLite file"},
		{"wrong identifier", wrongID, `"TFL2"`},
		{"root offset past the end", badRoot, "points past the end"},
		{"vtable out of range", badVT, "outside"},
		{"truncated to 9 bytes", good[:9], "past the end"},
	}
	for cut := 12; cut < len(good); cut += 7 {
		cases = append(cases, struct {
			name    string
			data    []byte
			wantErr string
		}{"truncated", good[:cut], ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.data)
			if err == nil {
				t.Fatalf("no error for %d bytes", len(tc.data))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadFileErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notamodel.tflite")
	if err := os.WriteFile(path, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a TFLite file") {
		t.Errorf("error %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.tflite")); err == nil {
		t.Error("no error for a missing file")
	}
}

// TestReadTruncatedMobileNet cuts the real file at several points inside
// the model: each must give an error, not a panic. (The file ends with a
// zip archive of the labels appended after the FlatBuffer, which the
// reader does not need, so cuts there succeed.)
func TestReadTruncatedMobileNet(t *testing.T) {
	data, err := os.ReadFile(mobilenetPath(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{8, 64, 4096, len(data) / 2, len(data) * 3 / 4} {
		if _, err := Read(data[:cut]); err == nil {
			t.Errorf("no error for the file cut to %d of %d bytes", cut, len(data))
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(tinyModel())
	f.Add([]byte("\x00\x00\x00\x00TFL3"))
	f.Add([]byte("\x08\x00\x00\x00TFL3\x04\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(data)
		if err != nil {
			return
		}
		for si := range m.Subgraphs {
			sg := &m.Subgraphs[si]
			for ti := range sg.Tensors {
				_, _ = m.Dequantize(&sg.Tensors[ti])
			}
			for oi := range sg.Operators {
				_ = m.Builtin(&sg.Operators[oi]).String()
			}
		}
	})
}
