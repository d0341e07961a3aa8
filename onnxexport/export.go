// Package onnxexport writes a trained ghmdet detector as an ONNX model, for
// runtimes that read ONNX (ONNX Runtime and others): the network of
// model.Describe in ordinary operators of opset 17, with the trained
// weights (the weight averages when the run kept them) as constants.
//
// The model:
//
//   - Input "images": float32 [batch, 3, H, W] (NCHW, RGB), pixel values on
//     the 0..255 scale, H x W the run's input canvas (model.input_height x
//     model.input_width). The model normalises them with the run's mean and
//     standard deviation itself (a Mul and an Add, as ghmdet's transform).
//     Prepare an image as ghmdet does: resize it keeping its aspect ratio to
//     fit the canvas (and resize.long_side x resize.short_side when set),
//     place it at the top left and fill the right and bottom with the mean
//     colour (the metadata's "preprocessing" entry gives the numbers).
//   - Output "scores": float32 [batch, N, K], the sigmoid probability of
//     each class per anchor; "deltas": float32 [batch, N, 4], the box
//     deltas per anchor (encoded as the run's box coder encodes them). The N
//     anchors of all pyramid levels come in ghmdet's order: level P3 to P7,
//     then row, column and anchor (anchor = ratio index x scales per octave
//   - scale index), which is box.GenerateAnchors's order.
//   - With Options.NMS, also "boxes": float32 [batch, N, 4], every anchor's
//     decoded box (x1, y1, x2, y2 in canvas pixels, clipped to the canvas),
//     and ONNX's per-class NonMaxSuppression over them: "selected": int64
//     [D, 3] (image, class, anchor) of the kept boxes, "detection_scores"
//     float32 [D] and "detection_boxes" float32 [D, 4]. It keeps, per image
//     and class, at most test.max_detections boxes scored above
//     test.score_thresh, suppressing those whose IoU with a better one of
//     their class exceeds test.nms_iou. ghmdet's own post-processing also
//     keeps only the best test.pre_nms_topk (anchor, class) pairs per level
//     before NMS, drops empty boxes and caps the detections per image over
//     all classes; a program that wants exactly that sorts the selected
//     boxes by score and keeps the first test.max_detections per image.
//
// Operators: Conv (batch-norm folded into the weights and bias; group=C for
// depthwise convolutions), group-norm as Reshape, InstanceNormalization,
// Reshape, Mul and Add, Relu, Clip (ReLU6), MaxPool, Resize (nearest,
// asymmetric, floor: the FPN's 2x upsampling) with Slice where it crops, Add,
// Transpose, Reshape, Concat, Sigmoid; with NMS also Slice, Exp, Max, Min,
// NonMaxSuppression, Gather and GatherND.
//
// Metadata (ModelProto.metadata_props): "classes" (JSON list in class
// order), "input" (the input's layout and range), "preprocessing" (JSON:
// canvas, resize limits, mean, std, padding), "anchors" (JSON: strides,
// octave base scale, scales per octave, ratios, centre offset, order),
// "box_coder" (JSON: means, stds, wh_ratio_clip), "postprocess" (JSON: the
// run's test settings), "outputs" (their description), "preset" and
// "ghmdet_version".
package onnxexport

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/engine"
	"github.com/ghmdet/ghmdet/internal/inference"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// Opset is the version of the ONNX operator set the exported models use
// (IR version 8).
const Opset = 17

// Names of the graph's inputs and outputs.
const (
	InputImages     = "images"
	OutputScores    = "scores"
	OutputDeltas    = "deltas"
	OutputBoxes     = "boxes"
	OutputSelected  = "selected"
	OutputDetScores = "detection_scores"
	OutputDetBoxes  = "detection_boxes"
)

// Options configures Build.
type Options struct {
	// NMS adds the decoded boxes and ONNX NonMaxSuppression (see the
	// package documentation).
	NMS bool
	// Version is written as the model's producer version and in the
	// metadata (ghmdet's version).
	Version string
}

// Load reads what Build needs from a run directory or checkpoint file (see
// inference.ResolveCheckpoint): the checkpoint's Spec and its network
// variables, the weight averages in place of the weights when the run kept
// them.
func Load(path string) (inference.Spec, engine.Weights, error) {
	ck, err := inference.OpenCheckpoint(path)
	if err != nil {
		return inference.Spec{}, nil, err
	}
	spec, err := ck.Spec()
	if err != nil {
		return inference.Spec{}, nil, err
	}
	store, err := ck.LoadInferenceVariables()
	if err != nil {
		return inference.Spec{}, nil, err
	}
	return spec, inference.StoreWeights(store), nil
}

// Build returns the encoded ONNX model of the detector spec, its weights
// read with get (the names of model.Describe's variables, as the native
// engine reads them).
func Build(spec inference.Spec, get engine.Weights, opts Options) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	arch, err := model.Describe(spec.Model)
	if err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	b := &builder{g: newGraph(), get: get, heads: map[string]convConsts{}}
	h, w := spec.Model.InputHeight, spec.Model.InputWidth
	k := arch.NumClasses
	b.g.inputs = append(b.g.inputs, valueInfo{name: InputImages, elem: dataTypeFloat,
		dims: []dim{{param: "batch"}, {value: 3}, {value: int64(h)}, {value: int64(w)}},
		doc:  "RGB pixel values 0..255, NCHW, at the model's input size"})
	scores, deltas, err := b.network(spec, arch)
	if err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	n := int64(model.NumAnchors(spec.Model, h, w))
	b.output(scores, OutputScores, dataTypeFloat, []dim{{param: "batch"}, {value: n}, {value: int64(k)}},
		"class probabilities (sigmoid) per anchor")
	b.output(deltas, OutputDeltas, dataTypeFloat, []dim{{param: "batch"}, {value: n}, {value: 4}},
		"box deltas per anchor, encoded as the box coder encodes them")
	if opts.NMS {
		if err := b.nms(spec, scores, deltas); err != nil {
			return nil, fmt.Errorf("onnx export: %w", err)
		}
	}
	meta, err := metadata(spec, opts)
	if err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	m := &modelProto{producer: "ghmdet", version: opts.Version, opset: Opset, meta: meta, g: b.g,
		graphName: "ghmdet_" + spec.Model.Backbone,
		doc:       fmt.Sprintf("ghmdet detector (%s backbone, %d classes, %dx%d input)", spec.Model.Backbone, k, w, h)}
	return m.encode(), nil
}

// builder turns the layer list into nodes.
type builder struct {
	g     *graph
	get   engine.Weights
	heads map[string]convConsts // the head's constants, shared by every level
}

// feat is a value of the graph: its name and NCHW geometry (batch aside).
type feat struct {
	name    string
	c, h, w int
}

// convConsts are the constants of one convolution layer.
type convConsts struct {
	weights, bias string
	// Group-norm: groups, epsilon, and the affine constants [C,1,1].
	groups      int
	eps         float32
	gamma, beta string
}

// output renames value name to the graph output out (an Identity node).
func (b *builder) output(name, out string, elem int, dims []dim, doc string) {
	b.g.used[out] = true
	b.g.nodes = append(b.g.nodes, node{op: "Identity", name: out + "_identity", in: []string{name}, out: []string{out}})
	b.g.outputs = append(b.g.outputs, valueInfo{name: out, elem: elem, dims: dims, doc: doc})
}

// network adds the normalisation, the backbone, the FPN and the heads, and
// returns the class probabilities [B,N,K] and deltas [B,N,4].
func (b *builder) network(spec inference.Spec, arch model.Arch) (scores, deltas string, err error) {
	mean, std := spec.Mean, spec.Std
	if std == [3]float32{} {
		mean, std = transform.DefaultMean, transform.DefaultStd
	}
	var scale, shift [3]float32
	for c := range 3 {
		scale[c] = 1 / std[c]
		shift[c] = -mean[c] / std[c]
	}
	x := b.g.op("Mul", []string{InputImages, b.g.floats("input_scale", scale[:], 1, 3, 1, 1)})
	x = b.g.op("Add", []string{x, b.g.floats("input_shift", shift[:], 1, 3, 1, 1)})
	image := feat{name: x, c: 3, h: spec.Model.InputHeight, w: spec.Model.InputWidth}
	outs := make([]feat, len(arch.Ops))
	for i, op := range arch.Ops {
		in := func(j int) feat {
			if op.Inputs[j] == model.InputImage {
				return image
			}
			return outs[op.Inputs[j]]
		}
		if outs[i], err = b.layer(op, in, false); err != nil {
			return "", "", fmt.Errorf("op %d (%s %s): %w", i, op.Kind, op.Name, err)
		}
	}
	var cls, bx []string
	for _, id := range arch.Pyramid {
		level := outs[id]
		for bi, branch := range [][]model.Op{arch.Head.Cls, arch.Head.Box} {
			vals := make([]feat, len(branch))
			for j, op := range branch {
				in := func(k int) feat {
					if op.Inputs[k] == model.InputImage {
						return level
					}
					return vals[op.Inputs[k]]
				}
				if vals[j], err = b.layer(op, in, true); err != nil {
					return "", "", fmt.Errorf("head op %s: %w", op.Name, err)
				}
			}
			last := vals[len(vals)-1]
			per := int64(arch.NumClasses)
			if bi == 1 {
				per = 4
			}
			t := b.g.op("Transpose", []string{last.name}, intsAttr("perm", 0, 2, 3, 1))
			r := b.g.op("Reshape", []string{t, b.g.int64s("shape", []int64{0, -1, per}, 3)})
			if bi == 0 {
				cls = append(cls, r)
			} else {
				bx = append(bx, r)
			}
		}
	}
	logits := b.g.op("Concat", cls, intAttr("axis", 1))
	scores = b.g.op("Sigmoid", []string{logits})
	deltas = b.g.op("Concat", bx, intAttr("axis", 1))
	return scores, deltas, nil
}

// layer adds the nodes of one op; in returns its inputs. Head layers share
// their constants across levels.
func (b *builder) layer(op model.Op, in func(int) feat, head bool) (feat, error) {
	switch op.Kind {
	case model.OpConv, model.OpDepthwise:
		x := in(0)
		if x.c != op.In {
			return feat{}, fmt.Errorf("input has %d channels, the layer reads %d", x.c, op.In)
		}
		cc, ok := b.heads[op.Name]
		if !ok {
			var err error
			if cc, err = b.convConsts(op); err != nil {
				return feat{}, err
			}
			if head {
				b.heads[op.Name] = cc
			}
		}
		pt, pb, ho := nn.PadAmounts(x.h, op.Kernel, op.Stride, op.Padding)
		pl, pr, wo := nn.PadAmounts(x.w, op.Kernel, op.Stride, op.Padding)
		group := int64(1)
		if op.Kind == model.OpDepthwise {
			group = int64(op.Out)
		}
		y := b.g.op("Conv", []string{x.name, cc.weights, cc.bias},
			intsAttr("kernel_shape", int64(op.Kernel), int64(op.Kernel)),
			intsAttr("strides", int64(op.Stride), int64(op.Stride)),
			intsAttr("pads", int64(pt), int64(pl), int64(pb), int64(pr)),
			intsAttr("dilations", 1, 1),
			intAttr("group", group))
		out := feat{name: y, c: op.Out, h: ho, w: wo}
		if cc.groups > 0 {
			out.name = b.groupNorm(out, cc)
		}
		out.name = b.act(out.name, op.Act)
		return out, nil
	case model.OpMaxPool:
		x := in(0)
		pt, pb, ho := nn.PadAmounts(x.h, op.Kernel, op.Stride, op.Padding)
		pl, pr, wo := nn.PadAmounts(x.w, op.Kernel, op.Stride, op.Padding)
		y := b.g.op("MaxPool", []string{x.name},
			intsAttr("kernel_shape", int64(op.Kernel), int64(op.Kernel)),
			intsAttr("strides", int64(op.Stride), int64(op.Stride)),
			intsAttr("pads", int64(pt), int64(pl), int64(pb), int64(pr)))
		return feat{name: b.act(y, op.Act), c: x.c, h: ho, w: wo}, nil
	case model.OpAdd:
		x, y := in(0), in(1)
		if x.c != y.c || x.h != y.h || x.w != y.w {
			return feat{}, fmt.Errorf("adds %dx%dx%d and %dx%dx%d", x.c, x.h, x.w, y.c, y.h, y.w)
		}
		x.name = b.act(b.g.op("Add", []string{x.name, y.name}), op.Act)
		return x, nil
	case model.OpUpsampleAdd:
		x, y := in(0), in(1)
		if x.c != y.c || 2*y.h < x.h || 2*y.w < x.w {
			return feat{}, fmt.Errorf("cannot upsample %dx%d by 2 to %dx%d", y.h, y.w, x.h, x.w)
		}
		up := b.g.op("Resize", []string{y.name, "", b.g.floats("scales", []float32{1, 1, 2, 2}, 4)},
			strAttr("mode", "nearest"),
			strAttr("coordinate_transformation_mode", "asymmetric"),
			strAttr("nearest_mode", "floor"))
		if 2*y.h != x.h || 2*y.w != x.w {
			up = b.g.op("Slice", []string{up,
				b.g.int64s("starts", []int64{0, 0}, 2),
				b.g.int64s("ends", []int64{int64(x.h), int64(x.w)}, 2),
				b.g.int64s("axes", []int64{2, 3}, 2)})
		}
		x.name = b.act(b.g.op("Add", []string{x.name, up}), op.Act)
		return x, nil
	case model.OpAct:
		x := in(0)
		x.name = b.act(x.name, op.Act)
		return x, nil
	}
	return feat{}, fmt.Errorf("op kind %s not supported", op.Kind)
}

// act adds the activation a on x.
func (b *builder) act(x string, a model.Activation) string {
	switch a {
	case model.ActReLU:
		return b.g.op("Relu", []string{x})
	case model.ActReLU6:
		return b.g.op("Clip", []string{x, b.g.scalar("zero", 0), b.g.scalar("six", 6)})
	}
	return x
}

// groupNorm adds group normalisation of x: the groups' statistics by
// InstanceNormalization over [B, G, C/G*H*W], then the per-channel affine.
func (b *builder) groupNorm(x feat, cc convConsts) string {
	g := int64(cc.groups)
	ones := make([]float32, g)
	for i := range ones {
		ones[i] = 1
	}
	r := b.g.op("Reshape", []string{x.name, b.g.int64s("shape", []int64{0, g, -1}, 3)})
	r = b.g.op("InstanceNormalization", []string{r, b.g.floats("ones", ones, g), b.g.floats("zeros", make([]float32, g), g)},
		floatAttr("epsilon", cc.eps))
	r = b.g.op("Reshape", []string{r, b.g.int64s("shape", []int64{0, int64(x.c), int64(x.h), int64(x.w)}, 4)})
	r = b.g.op("Mul", []string{r, cc.gamma})
	return b.g.op("Add", []string{r, cc.beta})
}

// convConsts reads a convolution's variables, folds batch-norm (as the
// native engine does, in float64) and adds its constants: weights
// [Out, In/group, k, k] and bias [Out].
func (b *builder) convConsts(op model.Op) (convConsts, error) {
	k, cin, cout := op.Kernel, op.In, op.Out
	var cc convConsts
	if op.Kind == model.OpDepthwise {
		w, err := read(b.get, op.Name+"/weights", k, k, 1, cout)
		if err != nil {
			return cc, err
		}
		ow := make([]float32, cout*k*k)
		for t := range k * k {
			for c := range cout {
				ow[c*k*k+t] = w[t*cout+c]
			}
		}
		bias := make([]float32, cout)
		if op.Bias {
			if bias, err = read(b.get, op.Name+"/biases", cout); err != nil {
				return cc, err
			}
		}
		cc.weights = b.g.floats(op.Name+"/weight", ow, int64(cout), 1, int64(k), int64(k))
		cc.bias = b.g.floats(op.Name+"/bias", bias, int64(cout))
		return cc, nil
	}
	f, err := engine.FoldConv(op, b.get)
	if err != nil {
		return cc, err
	}
	w, scale, shift := f.Weights, f.Scale, f.Shift
	if f.Groups > 0 {
		cc.groups, cc.eps = f.Groups, float32(f.Eps)
		cc.gamma = b.g.floats(op.NormName+"/gamma", f.Gamma, int64(cout), 1, 1)
		cc.beta = b.g.floats(op.NormName+"/beta", f.Beta, int64(cout), 1, 1)
	}
	ow := make([]float32, cout*cin*k*k)
	for t := range k * k {
		for i := range cin {
			for o := range cout {
				ow[(o*cin+i)*k*k+t] = float32(float64(w[(t*cin+i)*cout+o]) * scale[o])
			}
		}
	}
	bias := make([]float32, cout)
	for c := range cout {
		bias[c] = float32(shift[c])
	}
	cc.weights = b.g.floats(op.Name+"/weight", ow, int64(cout), int64(cin), int64(k), int64(k))
	cc.bias = b.g.floats(op.Name+"/bias", bias, int64(cout))
	return cc, nil
}

// errShape reports a variable whose shape is not the layer's.
var errShape = errors.New("shape")

// read reads variable name and checks its dimensions.
func read(get engine.Weights, name string, dims ...int) ([]float32, error) {
	d, got, err := get(name)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", name, err)
	}
	n := 1
	for _, v := range dims {
		n *= v
	}
	same := len(got) == len(dims)
	for i := 0; same && i < len(dims); i++ {
		same = got[i] == dims[i]
	}
	if !same || len(d) != n {
		return nil, fmt.Errorf("variable %s: %w %v (%d values), the layer needs %v", name, errShape, got, len(d), dims)
	}
	return d, nil
}

// nms adds the box decoding and NonMaxSuppression.
func (b *builder) nms(spec inference.Spec, scores, deltas string) error {
	h, w := spec.Model.InputHeight, spec.Model.InputWidth
	anchors, err := box.GenerateAnchors(spec.Anchors, h, w)
	if err != nil {
		return err
	}
	n := len(anchors.Boxes)
	if want := model.NumAnchors(spec.Model, h, w); n != want {
		return fmt.Errorf("the anchor generator made %d anchors, the network emits %d", n, want)
	}
	ctr := make([]float32, 2*n)
	size := make([]float32, 2*n)
	for i, a := range anchors.Boxes {
		ctr[2*i], ctr[2*i+1] = (a[0]+a[2])*0.5, (a[1]+a[3])*0.5
		size[2*i], size[2*i+1] = a[2]-a[0], a[3]-a[1]
	}
	c := spec.Coder
	g := b.g
	axis2 := g.int64s("axes", []int64{2}, 1)
	dxy := g.op("Slice", []string{deltas, g.int64s("starts", []int64{0}, 1), g.int64s("ends", []int64{2}, 1), axis2})
	dwh := g.op("Slice", []string{deltas, g.int64s("starts", []int64{2}, 1), g.int64s("ends", []int64{4}, 1), axis2})
	dxy = g.op("Add", []string{g.op("Mul", []string{dxy, g.floats("coder_std_xy", c.Stds[:2], 2)}), g.floats("coder_mean_xy", c.Means[:2], 2)})
	dwh = g.op("Add", []string{g.op("Mul", []string{dwh, g.floats("coder_std_wh", c.Stds[2:], 2)}), g.floats("coder_mean_wh", c.Means[2:], 2)})
	if maxD := c.MaxDeltaWH(); !math.IsInf(float64(maxD), 0) {
		dwh = g.op("Clip", []string{dwh, g.scalar("coder_min_dwh", -maxD), g.scalar("coder_max_dwh", maxD)})
	}
	sizeC := g.floats("anchor_size", size, 1, int64(n), 2)
	gwh := g.op("Mul", []string{sizeC, g.op("Exp", []string{dwh})})
	gxy := g.op("Add", []string{g.floats("anchor_center", ctr, 1, int64(n), 2), g.op("Mul", []string{sizeC, dxy})})
	half := g.op("Mul", []string{gwh, g.scalar("half", 0.5)})
	boxes := g.op("Concat", []string{g.op("Sub", []string{gxy, half}), g.op("Add", []string{gxy, half})}, intAttr("axis", 2))
	boxes = g.op("Max", []string{boxes, g.scalar("zero", 0)})
	boxes = g.op("Min", []string{boxes, g.floats("canvas", []float32{float32(w), float32(h), float32(w), float32(h)}, 4)})
	b.output(boxes, OutputBoxes, dataTypeFloat, []dim{{param: "batch"}, {value: int64(n)}, {value: 4}},
		"decoded boxes per anchor: x1, y1, x2, y2 in input pixels, clipped to the input")
	maxPer := int64(spec.Test.MaxDetections)
	if maxPer <= 0 {
		maxPer = int64(n)
	}
	scoresT := g.op("Transpose", []string{scores}, intsAttr("perm", 0, 2, 1))
	sel := g.op("NonMaxSuppression", []string{boxes, scoresT,
		g.int64s("max_per_class", []int64{maxPer}, 1),
		g.floats("iou_threshold", []float32{spec.Test.NMSIoU}, 1),
		g.floats("score_threshold", []float32{spec.Test.ScoreThresh}, 1)},
		intAttr("center_point_box", 0))
	b.output(sel, OutputSelected, dataTypeInt64, []dim{{param: "detections"}, {value: 3}},
		"kept boxes: image, class, anchor")
	detScores := g.op("GatherND", []string{scoresT, sel})
	b.output(detScores, OutputDetScores, dataTypeFloat, []dim{{param: "detections"}},
		"the kept boxes' class probabilities")
	idx := g.op("Gather", []string{sel, g.int64s("image_anchor", []int64{0, 2}, 2)}, intAttr("axis", 1))
	detBoxes := g.op("GatherND", []string{boxes, idx})
	b.output(detBoxes, OutputDetBoxes, dataTypeFloat, []dim{{param: "detections"}, {value: 4}},
		"the kept boxes: x1, y1, x2, y2 in input pixels")
	return nil
}

// metadata returns the model's metadata properties.
func metadata(spec inference.Spec, opts Options) ([][2]string, error) {
	mean, std := spec.Mean, spec.Std
	if std == [3]float32{} {
		mean, std = transform.DefaultMean, transform.DefaultStd
	}
	h, w := spec.Model.InputHeight, spec.Model.InputWidth
	var meta [][2]string
	add := func(key string, v any) error {
		if s, ok := v.(string); ok {
			meta = append(meta, [2]string{key, s})
			return nil
		}
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("metadata %s: %w", key, err)
		}
		meta = append(meta, [2]string{key, string(j)})
		return nil
	}
	outputs := "scores [batch, N, K]: class probabilities; deltas [batch, N, 4]: box deltas; anchors in the order level (P3..P7), row, column, anchor"
	if opts.NMS {
		outputs += "; boxes [batch, N, 4]: decoded and clipped boxes x1, y1, x2, y2; selected [D, 3] (image, class, anchor), detection_scores [D], detection_boxes [D, 4]: per-class NMS"
	}
	steps := []struct {
		key string
		v   any
	}{
		{"classes", spec.ClassNames()},
		{"input", fmt.Sprintf("images: float32 [batch, 3, %d, %d], NCHW, RGB, pixel values 0..255 (the model normalises them)", h, w)},
		{"preprocessing", map[string]any{
			"layout": "NCHW", "channels": "RGB", "range": "0..255",
			"canvas_width": w, "canvas_height": h,
			"resize":         "keep aspect ratio to fit the canvas (and long_side x short_side when not 0), image at the top left",
			"long_side":      spec.LongSide,
			"short_side":     spec.ShortSide,
			"padding":        "right and bottom, with the mean colour",
			"mean":           mean,
			"std":            std,
			"normalisation":  "(pixel - mean) / std, done inside the model",
			"boxes_to_image": "divide x by the resize scale of x and y by that of y",
		}},
		{"anchors", map[string]any{
			"strides": spec.Anchors.Strides, "octave_base_scale": spec.Anchors.OctaveBaseScale,
			"scales_per_octave": spec.Anchors.ScalesPerOctave, "ratios": spec.Anchors.Ratios,
			"center_offset": spec.Anchors.CenterOffset,
			"per_location":  spec.Anchors.NumPerLocation(),
			"order":         "level, row, column, anchor = ratio index * scales_per_octave + scale index",
		}},
		{"box_coder", map[string]any{
			"type": "DeltaXYWH", "means": spec.Coder.Means, "stds": spec.Coder.Stds,
			"wh_ratio_clip": spec.Coder.WHRatioClip,
		}},
		{"postprocess", map[string]any{
			"pre_nms_topk": spec.Test.PreNMSTopK, "score_thresh": spec.Test.ScoreThresh,
			"nms_iou": spec.Test.NMSIoU, "max_detections": spec.Test.MaxDetections, "min_size": spec.Test.MinSize,
		}},
		{"outputs", outputs},
		{"preset", spec.Preset},
		{"ghmdet_version", opts.Version},
	}
	for _, s := range steps {
		if err := add(s.key, s.v); err != nil {
			return nil, err
		}
	}
	return meta, nil
}
