package mobilenet

import (
	"fmt"
	"slices"

	"github.com/ghmdet/ghmdet/tflite"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// layerKind is the operator a layer maps to.
type layerKind int

const (
	kindConv layerKind = iota
	kindDepthwise
	kindLogits // CONV_2D 1x1 or FULLY_CONNECTED
)

// layerSpec is one weighted layer of the network in execution order.
type layerSpec struct {
	scope   string // path under the model scope, e.g. "expanded_conv_1/expand"
	kind    layerKind
	k       int
	stride  int
	in, out int
	relu6   bool
	// blockStart marks the first layer of an inverted residual block.
	blockStart bool
	// residual is set on the projection of a residual block: its output is
	// added to the block input next (an ADD operator).
	residual bool
}

// layerSpecs lists the weighted layers in execution order, the average
// pool coming between "Conv_1" and the logits.
func layerSpecs() []layerSpec {
	specs := []layerSpec{{scope: StemScope, kind: kindConv, k: 3, stride: 2, in: 3, out: StemChannels, relu6: true}}
	for _, b := range Blocks() {
		s := BlockScope(b.Index)
		hidden := b.In * b.Expand
		if b.Expand != 1 {
			specs = append(specs, layerSpec{scope: s + "/expand", kind: kindConv, k: 1, stride: 1, in: b.In, out: hidden, relu6: true, blockStart: true})
		}
		specs = append(specs,
			layerSpec{scope: s + "/depthwise", kind: kindDepthwise, k: 3, stride: b.Stride, in: hidden, out: hidden, relu6: true, blockStart: b.Expand == 1},
			layerSpec{scope: s + "/project", kind: kindConv, k: 1, stride: 1, in: hidden, out: b.Out, residual: b.Residual()})
	}
	last := Blocks()[len(Blocks())-1].Out
	specs = append(specs,
		layerSpec{scope: LastScope, kind: kindConv, k: 1, stride: 1, in: last, out: LastChannels, relu6: true},
		layerSpec{scope: LogitsScope, kind: kindLogits, k: 1, stride: 1, in: LastChannels, out: NumClasses})
	return specs
}

// weightShape is the TFLite shape of the layer's weights: OHWI for
// convolutions, [1,kh,kw,C] for depthwise ones.
func (l layerSpec) weightShape() []int {
	if l.kind == kindDepthwise {
		return []int{1, l.k, l.k, l.out}
	}
	return []int{l.out, l.k, l.k, l.in}
}

// loadedLayer pairs a layer with its TFLite operator and tensors.
type loadedLayer struct {
	spec         layerSpec
	op           int
	weight, bias *tflite.Tensor
}

// LoadTFLite reads the MobileNetV2 TFLite file at path (uint8/int8
// quantised or float32, batch-norm folded, as published by TensorFlow)
// and creates (or sets, when they exist with the same shapes) the
// variables of Classifier and Backbone under scopePath of store, holding
// the dequantised float32 weights transposed to HWIO. The operators are
// matched to the layers by walking the graph from its input in execution
// order (tensor names are not used); each operator's kind, stride,
// padding, fused activation and tensor shapes are checked, and errors name
// the file, the operator, the tensor and both shapes.
func LoadTFLite(path string, store *mlmodel.Store, scopePath string) error {
	m, err := tflite.ReadFile(path)
	if err != nil {
		return err
	}
	if err := Load(m, store, scopePath); err != nil {
		return fmt.Errorf("mobilenet weights %s: %w", path, err)
	}
	return nil
}

// Load is LoadTFLite for an already decoded model.
func Load(m *tflite.Model, store *mlmodel.Store, scopePath string) error {
	layers, err := matchLayers(m)
	if err != nil {
		return err
	}
	// Dequantise everything before touching the store, so a bad tensor
	// leaves the store unchanged.
	type value struct {
		path string
		t    *tensors.Tensor
	}
	var values []value
	for _, l := range layers {
		w, err := m.Dequantize(l.weight)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.spec.scope, err)
		}
		b, err := m.Dequantize(l.bias)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.spec.scope, err)
		}
		var wt *tensors.Tensor
		switch l.spec.kind {
		case kindDepthwise:
			// [1,kh,kw,C] is already [kh,kw,1,C] in memory.
			wt = tensors.FromFlatDataAndDimensions(w, l.spec.k, l.spec.k, 1, l.spec.out)
		default:
			// OHWI (or [out,in] for FULLY_CONNECTED) -> HWIO.
			wt = tensors.FromFlatDataAndDimensions(ohwiToHWIO(w, l.spec.out, l.spec.k, l.spec.k, l.spec.in),
				l.spec.k, l.spec.k, l.spec.in, l.spec.out)
		}
		base := mlmodel.JoinPath("/", scopePath, l.spec.scope)
		values = append(values,
			value{mlmodel.JoinPath(base, "weights"), wt},
			value{mlmodel.JoinPath(base, "biases"), tensors.FromFlatDataAndDimensions(b, l.spec.out)})
	}
	for _, v := range values {
		if existing := store.GetVariable(v.path); existing != nil {
			if !existing.Shape().Equal(v.t.Shape()) {
				return fmt.Errorf("variable %s exists with shape %s, the file gives %s", v.path, existing.Shape(), v.t.Shape())
			}
			if err := existing.SetValue(v.t); err != nil {
				return fmt.Errorf("variable %s: %w", v.path, err)
			}
			continue
		}
		if _, err := store.CreateVariable(v.path, v.t); err != nil {
			return fmt.Errorf("variable %s: %w", v.path, err)
		}
	}
	return nil
}

// ohwiToHWIO transposes w [o,h,w,i] to [h,w,i,o].
func ohwiToHWIO(w []float32, o, kh, kw, in int) []float32 {
	out := make([]float32, len(w))
	for a := range o {
		for y := range kh {
			for x := range kw {
				src := ((a*kh+y)*kw + x) * in
				for c := range in {
					out[((y*kw+x)*in+c)*o+a] = w[src+c]
				}
			}
		}
	}
	return out
}

// opError formats an error about operator i.
func opError(i int, kind tflite.BuiltinOperator, spec layerSpec, format string, args ...any) error {
	return fmt.Errorf("operator %d (%s) for layer %s: %s", i, kind, spec.scope, fmt.Sprintf(format, args...))
}

// matchLayers walks the main subgraph from its input and pairs every layer
// of layerSpecs with its operator, checking the structure.
func matchLayers(m *tflite.Model) ([]loadedLayer, error) {
	if len(m.Subgraphs) == 0 {
		return nil, fmt.Errorf("the model has no subgraph")
	}
	sg := &m.Subgraphs[0]
	if len(sg.Inputs) != 1 {
		return nil, fmt.Errorf("the model has %d inputs, MobileNetV2 has 1", len(sg.Inputs))
	}
	cur := sg.Inputs[0]
	if in := &sg.Tensors[cur]; len(in.Shape) != 4 || in.Shape[3] != 3 {
		return nil, fmt.Errorf("input tensor %q has shape %v, want [B,H,W,3]", in.Name, in.Shape)
	}
	specs := layerSpecs()
	var out []loadedLayer
	pos := 0
	// next returns the index of the next operator that is not a
	// (de)quantisation of cur; those are followed (cur moves to their
	// output).
	next := func() (int, error) {
		for ; pos < len(sg.Operators); pos++ {
			op := &sg.Operators[pos]
			code := m.Builtin(op)
			if (code == tflite.OpQuantize || code == tflite.OpDequantize) && len(op.Inputs) == 1 && op.Inputs[0] == cur && len(op.Outputs) == 1 {
				cur = op.Outputs[0]
				continue
			}
			i := pos
			pos++
			return i, nil
		}
		return -1, fmt.Errorf("the graph ends after %d operators, before the MobileNetV2 layers do", len(sg.Operators))
	}
	blockIn := cur
	for _, spec := range specs {
		if spec.blockStart {
			blockIn = cur
		}
		if spec.kind == kindLogits {
			// The average pool comes first.
			i, err := next()
			if err != nil {
				return nil, err
			}
			op := &sg.Operators[i]
			if code := m.Builtin(op); code != tflite.OpAveragePool2D && code != tflite.OpMean {
				return nil, opError(i, code, spec, "want AVERAGE_POOL_2D or MEAN before the logits")
			}
			if len(op.Inputs) == 0 || op.Inputs[0] != cur || len(op.Outputs) != 1 {
				return nil, opError(i, m.Builtin(op), spec, "does not read the previous layer's output (tensor %d)", cur)
			}
			cur = op.Outputs[0]
		}
		i, err := next()
		if err != nil {
			return nil, err
		}
		op := &sg.Operators[i]
		l, err := matchLayer(m, sg, i, op, spec, cur)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		cur = op.Outputs[0]
		if spec.residual {
			i, err := next()
			if err != nil {
				return nil, err
			}
			add := &sg.Operators[i]
			code := m.Builtin(add)
			if code != tflite.OpAdd {
				return nil, opError(i, code, spec, "want the residual ADD after the projection")
			}
			if len(add.Inputs) != 2 || len(add.Outputs) != 1 ||
				!slices.Contains(add.Inputs, cur) || !slices.Contains(add.Inputs, blockIn) {
				return nil, opError(i, code, spec, "ADD inputs %v are not the projection output %d and the block input %d", add.Inputs, cur, blockIn)
			}
			if o, ok := add.Options.(*tflite.AddOptions); ok && o.Activation != tflite.ActNone {
				return nil, opError(i, code, spec, "residual ADD has fused activation %s, want NONE", o.Activation)
			}
			cur = add.Outputs[0]
		}
	}
	return out, nil
}

// matchLayer checks operator i against spec (input cur) and returns its
// weight and bias tensors.
func matchLayer(m *tflite.Model, sg *tflite.Subgraph, i int, op *tflite.Operator, spec layerSpec, cur int32) (loadedLayer, error) {
	code := m.Builtin(op)
	var wantCode tflite.BuiltinOperator
	var stride, dilW, dilH int32
	var pad tflite.Padding
	var act tflite.Activation
	switch o := op.Options.(type) {
	case *tflite.Conv2DOptions:
		wantCode, stride, pad, act, dilW, dilH = tflite.OpConv2D, o.StrideH, o.Padding, o.Activation, o.DilationW, o.DilationH
		if o.StrideW != o.StrideH {
			return loadedLayer{}, opError(i, code, spec, "strides %dx%d differ", o.StrideH, o.StrideW)
		}
	case *tflite.DepthwiseConv2DOptions:
		wantCode, stride, pad, act, dilW, dilH = tflite.OpDepthwiseConv2D, o.StrideH, o.Padding, o.Activation, o.DilationW, o.DilationH
		if o.StrideW != o.StrideH {
			return loadedLayer{}, opError(i, code, spec, "strides %dx%d differ", o.StrideH, o.StrideW)
		}
		if o.DepthMultiplier != 1 {
			return loadedLayer{}, opError(i, code, spec, "depth multiplier %d, want 1", o.DepthMultiplier)
		}
	case *tflite.FullyConnectedOptions:
		wantCode, stride, pad, act, dilW, dilH = tflite.OpFullyConnected, 1, tflite.PaddingSame, o.Activation, 1, 1
	}
	switch spec.kind {
	case kindConv:
		if code != tflite.OpConv2D {
			return loadedLayer{}, opError(i, code, spec, "want CONV_2D")
		}
	case kindDepthwise:
		if code != tflite.OpDepthwiseConv2D {
			return loadedLayer{}, opError(i, code, spec, "want DEPTHWISE_CONV_2D")
		}
	case kindLogits:
		if code != tflite.OpConv2D && code != tflite.OpFullyConnected {
			return loadedLayer{}, opError(i, code, spec, "want CONV_2D or FULLY_CONNECTED")
		}
	}
	if wantCode != code {
		return loadedLayer{}, opError(i, code, spec, "missing or mismatched builtin options")
	}
	if int(stride) != spec.stride {
		return loadedLayer{}, opError(i, code, spec, "stride %d, want %d", stride, spec.stride)
	}
	if spec.k > 1 && pad != tflite.PaddingSame {
		return loadedLayer{}, opError(i, code, spec, "padding %s, want SAME", pad)
	}
	if dilW != 1 || dilH != 1 {
		return loadedLayer{}, opError(i, code, spec, "dilation %dx%d, want 1", dilH, dilW)
	}
	wantAct := tflite.ActNone
	if spec.relu6 {
		wantAct = tflite.ActReLU6
	}
	if act != wantAct {
		return loadedLayer{}, opError(i, code, spec, "fused activation %s, want %s", act, wantAct)
	}
	if len(op.Inputs) != 3 || len(op.Outputs) != 1 || op.Inputs[1] < 0 || op.Inputs[2] < 0 {
		return loadedLayer{}, opError(i, code, spec, "want inputs (data, weights, bias) and one output, got inputs %v outputs %v", op.Inputs, op.Outputs)
	}
	if op.Inputs[0] != cur {
		return loadedLayer{}, opError(i, code, spec, "reads tensor %d, not the previous layer's output %d", op.Inputs[0], cur)
	}
	l := loadedLayer{spec: spec, op: i, weight: &sg.Tensors[op.Inputs[1]], bias: &sg.Tensors[op.Inputs[2]]}
	want := spec.weightShape()
	if code == tflite.OpFullyConnected {
		want = []int{spec.out, spec.in} // the same memory layout as OHWI with a 1x1 kernel
	}
	if got := l.weight.ShapeInts(); !slices.Equal(got, want) {
		return loadedLayer{}, opError(i, code, spec, "weight tensor %q has shape %v, the layer expects %v", l.weight.Name, got, want)
	}
	if got := l.bias.ShapeInts(); !slices.Equal(got, []int{spec.out}) {
		return loadedLayer{}, opError(i, code, spec, "bias tensor %q has shape %v, the layer expects [%d]", l.bias.Name, got, spec.out)
	}
	return l, nil
}
