package model

import (
	"fmt"

	"github.com/ghmdet/ghmdet/model/mobilenet"
	"github.com/ghmdet/ghmdet/nn"
)

// The architecture description: one list of layers per configuration,
// followed by both the GoMLX graph builder (Forward) and the plain-Go
// inference engine (package engine), so that a backbone, the FPN or the
// heads are written once. Describe gives the list; each Op names the
// variables it reads (relative to the scope given to Forward), so that an
// engine reads the trained weights of a checkpoint by the same names.

// Activation is applied at the end of an Op.
type Activation uint8

const (
	// ActNone applies nothing.
	ActNone Activation = iota
	// ActReLU is max(x, 0).
	ActReLU
	// ActReLU6 is min(max(x, 0), 6) (MobileNetV2).
	ActReLU6
)

// String returns the activation's name.
func (a Activation) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActReLU:
		return "relu"
	case ActReLU6:
		return "relu6"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// OpKind is the operation of an Op.
type OpKind uint8

const (
	// OpConv is a dense kxk convolution (variables Name/weights [k,k,In,Out]
	// and, with Bias, Name/biases [Out]), then the normalisation Norm (its
	// variables under NormName), then Act.
	OpConv OpKind = iota
	// OpDepthwise is a depthwise kxk convolution with channel multiplier 1
	// (Name/weights [k,k,1,C], Name/biases [C] with Bias), then Act.
	OpDepthwise
	// OpMaxPool is a kxk max-pool; padding never wins.
	OpMaxPool
	// OpAdd adds Inputs[0] and Inputs[1] (same shapes), then Act.
	OpAdd
	// OpUpsampleAdd adds to Inputs[0] [B,H,W,C] the nearest-neighbour 2x
	// upsampling of Inputs[1] [B,h,w,C] cropped to H x W (an FPN's top-down
	// path), then Act.
	OpUpsampleAdd
	// OpAct applies Act to Inputs[0].
	OpAct
)

// String returns the kind's name.
func (k OpKind) String() string {
	switch k {
	case OpConv:
		return "conv"
	case OpDepthwise:
		return "depthwise"
	case OpMaxPool:
		return "maxpool"
	case OpAdd:
		return "add"
	case OpUpsampleAdd:
		return "upsample_add"
	case OpAct:
		return "act"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// InputImage is the Inputs value that refers to the network's input image
// (in Arch.Ops) or to the pyramid level a head runs on (in Arch.Head).
const InputImage = -1

// Op is one layer of the network. Its output is referred to by its index in
// the list that holds it.
type Op struct {
	Kind OpKind
	// Name is the variable scope of the layer relative to the model's scope,
	// segments separated by "/" (e.g. "backbone/layer1/0/conv1"); empty for
	// layers without variables.
	Name string
	// Inputs are indices of earlier ops of the same list, or InputImage.
	Inputs []int
	// In and Out are the input and output channels.
	In, Out int
	// Kernel and Stride of convolutions and pooling (square).
	Kernel, Stride int
	// Padding of convolutions and pooling.
	Padding nn.Padding
	// Bias: the convolution has a bias variable.
	Bias bool
	// Norm follows a convolution (Kind "none" or empty: no norm), with its
	// variables under NormName. nn.Norm.Frozen marks batch-norm that uses
	// its running statistics even in training graphs.
	Norm     nn.Norm
	NormName string
	// Act is applied last.
	Act Activation
	// Init and BiasInit initialise the convolution's variables in the graph
	// builder (nil: nn.Conv's defaults).
	Init, BiasInit *nn.Init
	// Freeze, when not empty, is a scope (relative to the model's scope)
	// whose variables the graph builder marks non-trainable after this op,
	// stopping the gradient at the op's output (frozen stages).
	Freeze string
}

// HasNorm reports whether the op normalises its convolution's output.
func (o Op) HasNorm() bool { return o.Norm.Kind != "" && o.Norm.Kind != nn.NormNone }

// Head describes the classification and box heads, shared by every pyramid
// level: Cls and Box are op lists whose InputImage is the level's features
// [B,h,w,FPNChannels]; their last ops give the maps [B,h,w,A*K] and
// [B,h,w,A*4].
type Head struct {
	Cls, Box []Op
}

// Arch is the detector as a list of layers.
type Arch struct {
	// Backbone is the configuration's backbone name.
	Backbone string
	// Ops lists the backbone and FPN layers in the order the graph builder
	// creates their variables.
	Ops []Op
	// C3, C4 and C5 index the backbone outputs in Ops; Pyramid the levels
	// P3..P7.
	C3, C4, C5 int
	Pyramid    [NumLevels]int
	// Head is applied to every pyramid level with the same variables.
	Head Head
	// NumAnchors and NumClasses shape the head outputs.
	NumAnchors, NumClasses int
}

// Describe returns the layer list of the detector cfg. The variable names
// are those Forward creates under its scope.
func Describe(cfg Config) (Arch, error) {
	if err := cfg.Validate(); err != nil {
		return Arch{}, err
	}
	a := Arch{Backbone: cfg.Backbone, NumAnchors: cfg.NumAnchors, NumClasses: cfg.NumClasses}
	b := &opList{}
	var c3, c4, c5 int
	switch cfg.Backbone {
	case BackboneTiny:
		c3, c4, c5 = describeTiny(b, cfg)
	case BackboneMobileNetV2:
		c3, c4, c5 = describeMobileNet(b)
	default:
		c3, c4, c5 = describeResNet(b, cfg)
	}
	a.C3, a.C4, a.C5 = c3, c4, c5
	a.Pyramid = describeFPN(b, cfg, c3, c4, c5)
	a.Ops = b.ops
	a.Head = describeHead(cfg)
	return a, nil
}

// MustDescribe is Describe for configurations already validated; it panics
// on an invalid one, as graph-building functions do.
func MustDescribe(cfg Config) Arch {
	a, err := Describe(cfg)
	if err != nil {
		panic(fmt.Sprintf("model.Describe: %v", err))
	}
	return a
}

// opList accumulates ops and tracks the channels of each output.
type opList struct {
	ops []Op
}

// add appends op and returns its index.
func (l *opList) add(op Op) int {
	l.ops = append(l.ops, op)
	return len(l.ops) - 1
}

// channels returns the output channels of output id (3 for the image).
func (l *opList) channels(id int) int {
	if id == InputImage {
		return 3
	}
	return l.ops[id].Out
}

// convBN appends a bias-free convolution followed by the norm (the
// backbone's conv + norm pair named convName and bnName under scope).
func (l *opList) convBN(x int, norm nn.Norm, scope, convName, bnName string, out, k, stride int, act Activation) int {
	return l.add(Op{
		Kind: OpConv, Name: scope + "/" + convName, Inputs: []int{x},
		In: l.channels(x), Out: out, Kernel: k, Stride: stride,
		Norm: norm, NormName: scope + "/" + bnName, Act: act,
	})
}

// basicBlock appends ResNet's two-3x3 block with identity or 1x1
// projection shortcut.
func (l *opList) basicBlock(x int, norm nn.Norm, scope string, out, stride int) int {
	y := l.convBN(x, norm, scope, "conv1", "bn1", out, 3, stride, ActReLU)
	y = l.convBN(y, norm, scope, "conv2", "bn2", out, 3, 1, ActNone)
	return l.add(Op{Kind: OpAdd, Inputs: []int{y, l.shortcut(x, norm, scope, out, stride)}, In: out, Out: out, Act: ActReLU})
}

// bottleneck appends ResNet v1.5's 1x1-3x3-1x1 block (stride on the 3x3,
// as torchvision), expansion 4.
func (l *opList) bottleneck(x int, norm nn.Norm, scope string, width, stride int) int {
	y := l.convBN(x, norm, scope, "conv1", "bn1", width, 1, 1, ActReLU)
	y = l.convBN(y, norm, scope, "conv2", "bn2", width, 3, stride, ActReLU)
	y = l.convBN(y, norm, scope, "conv3", "bn3", 4*width, 1, 1, ActNone)
	return l.add(Op{Kind: OpAdd, Inputs: []int{y, l.shortcut(x, norm, scope, 4*width, stride)}, In: 4 * width, Out: 4 * width, Act: ActReLU})
}

// shortcut is x, or a strided 1x1 conv + norm ("downsample/0" and
// "downsample/1") when the shape changes.
func (l *opList) shortcut(x int, norm nn.Norm, scope string, out, stride int) int {
	if stride == 1 && l.channels(x) == out {
		return x
	}
	return l.convBN(x, norm, scope+"/downsample", "0", "1", out, 1, stride, ActNone)
}

// endStage marks the last op of stage s (0..3 after the stem) frozen when
// cfg.FrozenStages covers it.
func (l *opList) endStage(cfg Config, s int, scope string) {
	if s+1 <= cfg.FrozenStages {
		l.ops[len(l.ops)-1].Freeze = scope
	}
}

// describeResNet appends ResNet-18/34/50 (torchvision layout) and returns
// C3..C5.
func describeResNet(l *opList, cfg Config) (c3, c4, c5 int) {
	var blocks []int
	bottle := false
	switch cfg.Backbone {
	case BackboneResNet18:
		blocks = []int{2, 2, 2, 2}
	case BackboneResNet34:
		blocks = []int{3, 4, 6, 3}
	default:
		blocks, bottle = []int{3, 4, 6, 3}, true
	}
	y := l.convBN(InputImage, stageNorm(cfg, 0), "backbone/stem", "conv1", "bn1", 64, 7, 2, ActReLU)
	y = l.add(Op{Kind: OpMaxPool, Inputs: []int{y}, In: 64, Out: 64, Kernel: 3, Stride: 2, Padding: nn.PadSymmetric})
	if cfg.FrozenStages >= 0 {
		l.ops[y].Freeze = "backbone/stem"
	}
	var feats [4]int
	for s, n := range blocks {
		layer := fmt.Sprintf("backbone/layer%d", s+1)
		width := 64 << s
		for b := range n {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			scope := fmt.Sprintf("%s/%d", layer, b)
			if bottle {
				y = l.bottleneck(y, stageNorm(cfg, s+1), scope, width, stride)
			} else {
				y = l.basicBlock(y, stageNorm(cfg, s+1), scope, width, stride)
			}
		}
		l.endStage(cfg, s, layer)
		feats[s] = y
	}
	return feats[1], feats[2], feats[3]
}

// describeTiny appends the CPU backbone: a 3x3 stride-2 stem of
// TinyWidths[0] channels, then four stages of TinyBlocks[s] basic blocks of
// TinyWidths[s] channels, each stage starting with a stride-2 block.
func describeTiny(l *opList, cfg Config) (c3, c4, c5 int) {
	widths, blocks := cfg.tinyWidths(), cfg.tinyBlocks()
	y := l.convBN(InputImage, stageNorm(cfg, 0), "backbone/stem", "conv1", "bn1", widths[0], 3, 2, ActReLU)
	if cfg.FrozenStages >= 0 {
		l.ops[y].Freeze = "backbone/stem"
	}
	var feats [4]int
	for s := range 4 {
		layer := fmt.Sprintf("backbone/layer%d", s+1)
		for b := range blocks[s] {
			stride := 1
			if b == 0 {
				stride = 2
			}
			y = l.basicBlock(y, stageNorm(cfg, s+1), fmt.Sprintf("%s/%d", layer, b), widths[s], stride)
		}
		l.endStage(cfg, s, layer)
		feats[s] = y
	}
	return feats[1], feats[2], feats[3]
}

// describeMobileNet appends MobileNetV2 from the table of package
// mobilenet (mobilenet.Blocks): the stem, the 17 inverted residual blocks
// and the last 1x1 convolution, with the tf-slim layer names under
// "backbone". Forward builds this backbone with mobilenet.Backbone, which
// follows the same table (and also serves the ImageNet classifier and the
// TFLite import); the ops carry no Freeze marks.
func describeMobileNet(l *opList) (c3, c4, c5 int) {
	const pre = "backbone/"
	conv := func(x int, name string, out, k, stride int, act Activation) int {
		return l.add(Op{Kind: OpConv, Name: pre + name, Inputs: []int{x}, In: l.channels(x), Out: out,
			Kernel: k, Stride: stride, Padding: nn.PadTFSame, Bias: true, Act: act})
	}
	y := conv(InputImage, mobilenet.StemScope, mobilenet.StemChannels, 3, 2, ActReLU6)
	for _, b := range mobilenet.Blocks() {
		s := mobilenet.BlockScope(b.Index)
		x := y
		hidden := b.In * b.Expand
		if b.Expand != 1 {
			y = conv(y, s+"/expand", hidden, 1, 1, ActReLU6)
		}
		y = l.add(Op{Kind: OpDepthwise, Name: pre + s + "/depthwise", Inputs: []int{y}, In: hidden, Out: hidden,
			Kernel: 3, Stride: b.Stride, Padding: nn.PadTFSame, Bias: true, Act: ActReLU6})
		y = conv(y, s+"/project", b.Out, 1, 1, ActNone)
		if b.Residual() {
			y = l.add(Op{Kind: OpAdd, Inputs: []int{y, x}, In: b.Out, Out: b.Out})
		}
		switch b.Index {
		case mobilenet.C3Block:
			c3 = y
		case mobilenet.C4Block:
			c4 = y
		}
	}
	c5 = conv(y, mobilenet.LastScope, mobilenet.LastChannels, 1, 1, ActReLU6)
	return c3, c4, c5
}

// describeFPN appends P3..P7 from C3..C5: lateral 1x1 convs, top-down
// nearest upsampling and addition, 3x3 output convs; P6 = 3x3 stride-2 conv
// on C5, P7 = 3x3 stride-2 conv on P6 (after a ReLU if cfg.ReLUBeforeP7).
// All convs have biases; weights are N(0, 1/fan_in) (the variance of
// torchvision's kaiming_uniform_(a=1)), biases 0.
func describeFPN(l *opList, cfg Config, c3, c4, c5 int) [NumLevels]int {
	ch := cfg.FPNChannels
	conv := func(name string, x, k, stride int) int {
		init := nn.NormalInit(fanInStd(k, l.channels(x)))
		return l.add(Op{Kind: OpConv, Name: "fpn/" + name, Inputs: []int{x}, In: l.channels(x), Out: ch,
			Kernel: k, Stride: stride, Bias: true, Init: &init})
	}
	l5 := conv("lateral5", c5, 1, 1)
	l4 := conv("lateral4", c4, 1, 1)
	l3 := conv("lateral3", c3, 1, 1)
	t4 := l.add(Op{Kind: OpUpsampleAdd, Inputs: []int{l4, l5}, In: ch, Out: ch})
	t3 := l.add(Op{Kind: OpUpsampleAdd, Inputs: []int{l3, t4}, In: ch, Out: ch})
	p3 := conv("output3", t3, 3, 1)
	p4 := conv("output4", t4, 3, 1)
	p5 := conv("output5", l5, 3, 1)
	p6 := conv("p6", c5, 3, 2)
	in7 := p6
	if cfg.ReLUBeforeP7 {
		in7 = l.add(Op{Kind: OpAct, Inputs: []int{p6}, In: ch, Out: ch, Act: ActReLU})
	}
	p7 := conv("p7", in7, 3, 2)
	return [NumLevels]int{p3, p4, p5, p6, p7}
}

// describeHead returns the classification and box branches: each
// HeadConvs x (3x3 conv, [GN], ReLU) and a 3x3 prediction conv; weights
// N(0, 0.01^2), biases 0 except the class bias -log((1-p)/p).
func describeHead(cfg Config) Head {
	std := nn.NormalInit(0.01)
	branch := func(name string, out int, bias nn.Init) []Op {
		var ops []Op
		x, in := InputImage, cfg.FPNChannels
		for i := range cfg.HeadConvs {
			op := Op{Kind: OpConv, Name: fmt.Sprintf("head/%s/conv%d", name, i), Inputs: []int{x}, In: in, Out: cfg.HeadWidth,
				Kernel: 3, Stride: 1, Bias: cfg.HeadNorm == nn.NormNone, Init: &std, Act: ActReLU}
			if cfg.HeadNorm != nn.NormNone {
				op.Norm = nn.Norm{Kind: cfg.HeadNorm}
				op.NormName = fmt.Sprintf("head/%s/norm%d", name, i)
			}
			ops = append(ops, op)
			x, in = len(ops)-1, cfg.HeadWidth
		}
		return append(ops, Op{Kind: OpConv, Name: fmt.Sprintf("head/%s/predict", name), Inputs: []int{x}, In: in, Out: out,
			Kernel: 3, Stride: 1, Bias: true, Init: &std, BiasInit: &bias})
	}
	return Head{
		Cls: branch("cls", cfg.NumAnchors*cfg.NumClasses, nn.ConstantInit(nn.PriorBias(cfg.PriorProb))),
		Box: branch("box", cfg.NumAnchors*4, nn.ZerosInit()),
	}
}

// VariableShapes returns the shape of every variable an op list reads,
// keyed by path relative to the model's scope ("backbone/stem/conv1/weights").
func VariableShapes(ops []Op) map[string][]int {
	out := map[string][]int{}
	for _, op := range ops {
		switch op.Kind {
		case OpConv:
			out[op.Name+"/weights"] = []int{op.Kernel, op.Kernel, op.In, op.Out}
		case OpDepthwise:
			out[op.Name+"/weights"] = []int{op.Kernel, op.Kernel, 1, op.Out}
		default:
			continue
		}
		if op.Bias {
			out[op.Name+"/biases"] = []int{op.Out}
		}
		switch op.Norm.Kind {
		case nn.NormFrozenBN, nn.NormBN:
			for _, v := range []string{"gamma", "beta", "mean", "variance"} {
				out[op.NormName+"/"+v] = []int{op.Out}
			}
		case nn.NormGN:
			out[op.NormName+"/gamma"] = []int{op.Out}
			out[op.NormName+"/beta"] = []int{op.Out}
		}
	}
	return out
}
