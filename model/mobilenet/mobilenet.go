// Package mobilenet builds MobileNetV2 1.0 (Sandler et al., 2018) in NHWC
// on GoMLX, as an ImageNet classifier and as a detector backbone, and loads
// its pretrained weights from a TFLite file (see LoadTFLite).
//
// The network is TensorFlow's (tf-slim "MobilenetV2"): a 3x3 stride-2
// convolution of 32 channels, 17 inverted residual blocks (1x1 expansion +
// ReLU6, 3x3 depthwise + ReLU6, linear 1x1 projection, identity shortcut
// when the stride is 1 and the width unchanged) from the (t, c, n, s) table
// of the paper, a 1x1 convolution of 1280 channels + ReLU6, global average
// pooling and a 1x1 convolution to 1001 classes (index 0 is "background").
// Every convolution uses TensorFlow's SAME padding (stride 2 on an even
// size pads only after) and has a bias: batch-norm is folded into the
// convolution weights and biases, so there is no normalisation layer.
//
// Variables are created under the given scope with the tf-slim layer names:
// "Conv", "expanded_conv/depthwise", "expanded_conv/project",
// "expanded_conv_N/{expand,depthwise,project}" (N = 1..16), "Conv_1",
// "Logits/Conv2d_1c_1x1", each holding "weights" (HWIO [kh,kw,in,out];
// depthwise [kh,kw,1,C]) and "biases" [out].
//
// The input is RGB scaled as (pixel-128)/128 (see InputMean, InputStd and
// Preprocess).
package mobilenet

import (
	"fmt"

	"github.com/ghmdet/ghmdet/nn"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// NumClasses is the number of classifier outputs: ImageNet's 1000 classes
// and "background" at index 0.
const NumClasses = 1001

// StemChannels and LastChannels are the widths of the first and last
// convolutions.
const (
	StemChannels = 32
	LastChannels = 1280
)

// InputMean and InputStd normalise the 0..255 RGB input: (v-128)/128, in
// the form of the data transform's per-channel Mean and Std.
var (
	InputMean = [3]float32{128, 128, 128}
	InputStd  = [3]float32{128, 128, 128}
)

// Stage is one row of MobileNetV2's (t, c, n, s) table: N inverted residual
// blocks of Out channels with expansion factor Expand, the first with
// stride Stride, the others with stride 1.
type Stage struct {
	Expand, Out, N, Stride int
}

// Stages is MobileNetV2 1.0's table (Sandler et al., Table 2).
var Stages = []Stage{
	{1, 16, 1, 1},
	{6, 24, 2, 2},
	{6, 32, 3, 2},
	{6, 64, 4, 2},
	{6, 96, 3, 1},
	{6, 160, 3, 2},
	{6, 320, 1, 1},
}

// Block is one inverted residual block.
type Block struct {
	// Index 0..16; the variables live under BlockScope(Index).
	Index int
	// Stage is the index of the block's row in Stages.
	Stage int
	// In and Out channels; Expand is the expansion factor t (the hidden
	// width is In*Expand).
	In, Out, Expand int
	Stride          int
}

// Residual reports whether the block adds its input to its output.
func (b Block) Residual() bool { return b.Stride == 1 && b.In == b.Out }

// Blocks lists the 17 blocks in order.
func Blocks() []Block {
	var out []Block
	in := StemChannels
	for s, st := range Stages {
		for i := range st.N {
			stride := 1
			if i == 0 {
				stride = st.Stride
			}
			out = append(out, Block{Index: len(out), Stage: s, In: in, Out: st.Out, Expand: st.Expand, Stride: stride})
			in = st.Out
		}
	}
	return out
}

// BlockScope is the scope name of block i ("expanded_conv",
// "expanded_conv_1", ...).
func BlockScope(i int) string {
	if i == 0 {
		return "expanded_conv"
	}
	return fmt.Sprintf("expanded_conv_%d", i)
}

// Scope names of the layers outside the blocks.
const (
	StemScope   = "Conv"
	LastScope   = "Conv_1"
	LogitsScope = "Logits/Conv2d_1c_1x1"
)

// C5Tap selects the stride-32 feature returned as C5 by Backbone.
type C5Tap int

const (
	// C5Last is the output of the last 1x1 convolution, 1280 channels after
	// ReLU6 (the feature the classifier pools; as torchvision's
	// mobilenet_v2().features and mmdetection's out_indices=7). The default.
	C5Last C5Tap = iota
	// C5Block320 is the output of the last inverted residual block, 320
	// channels, linear (no activation): cheaper, and Conv_1 is then not
	// built.
	C5Block320
)

// Tap indices: C3 (stride 8, 32 channels) is the output of block 5, the
// last of stage 2; C4 (stride 16, 96 channels) the output of block 12, the
// last of stage 4 (96 channels at stride 16: stage 3's 64 channels are at
// the same stride, the 96-channel stage is the deeper one).
const (
	C3Block = 5
	C4Block = 12
)

// Config configures Backbone.
type Config struct {
	// FrozenStages freezes the stem and the first FrozenStages rows of
	// Stages (their variables are marked non-trainable and no gradient
	// flows into them), as mmdetection's MobileNetV2: -1 freezes nothing,
	// 0 the stem, 1..7 the stem and stages 1..FrozenStages (7: every
	// block), 8 also the last 1x1 convolution. The zero value freezes the
	// stem; DefaultConfig freezes stem and stage 1, as the ResNet reference
	// does.
	FrozenStages int
	// C5 selects the stride-32 output (default C5Last, 1280 channels).
	C5 C5Tap
	// Method of the dense convolutions (default nn.ConvAuto).
	Method nn.ConvMethod
}

// DefaultConfig returns the backbone configuration for detection
// fine-tuning: stem and first stage frozen, C5 = the 1280-channel
// convolution.
func DefaultConfig() Config {
	return Config{FrozenStages: 1, C5: C5Last}
}

// Validate reports an invalid field.
func (c Config) Validate() error {
	if c.FrozenStages < -1 || c.FrozenStages > len(Stages)+1 {
		return fmt.Errorf("mobilenet: frozen stages %d out of range [-1, %d]", c.FrozenStages, len(Stages)+1)
	}
	if c.C5 != C5Last && c.C5 != C5Block320 {
		return fmt.Errorf("mobilenet: unknown C5 tap %d", int(c.C5))
	}
	return nil
}

// Channels returns the channel counts of C3, C4 and C5 for cfg.
func (c Config) Channels() (c3, c4, c5 int) {
	bs := Blocks()
	c5 = LastChannels
	if c.C5 == C5Block320 {
		c5 = bs[len(bs)-1].Out
	}
	return bs[C3Block].Out, bs[C4Block].Out, c5
}

// conv is a dense convolution with bias and TensorFlow SAME padding.
func conv(scope *mlmodel.Scope, x *Node, out, k, stride int, method nn.ConvMethod) *Node {
	return nn.Conv{Out: out, Kernel: k, Stride: stride, Padding: nn.PadTFSame, Bias: true, Method: method}.Apply(scope, x)
}

// invertedResidual builds block b on x.
func invertedResidual(scope *mlmodel.Scope, x *Node, b Block, method nn.ConvMethod) *Node {
	y := x
	if b.Expand != 1 {
		y = nn.ReLU6(conv(scope.In("expand"), y, b.In*b.Expand, 1, 1, method))
	}
	y = nn.ReLU6(nn.Depthwise{Kernel: 3, Stride: b.Stride, Padding: nn.PadTFSame, Bias: true}.Apply(scope.In("depthwise"), y))
	y = conv(scope.In("project"), y, b.Out, 1, 1, method)
	if b.Residual() {
		y = Add(y, x)
	}
	return y
}

// freeze marks the variables under scope non-trainable.
func freeze(scopes ...*mlmodel.Scope) {
	for _, s := range scopes {
		nn.SetTrainable(s, false)
	}
}

// features builds the network up to the last 1x1 convolution (when last
// is true) and returns C3, C4, the last block's output and the last
// convolution's output (nil unless last).
func features(scope *mlmodel.Scope, images *Node, cfg Config, last bool) (c3, c4, b16, top *Node) {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	if images.Rank() != 4 || images.Shape().Dim(3) != 3 {
		exceptions.Panicf("mobilenet: images must be [B,H,W,3], got %s", images.Shape())
	}
	scope = scope.ResetVisited()
	stem := scope.In(StemScope)
	y := nn.ReLU6(conv(stem, images, StemChannels, 3, 2, cfg.Method))
	if cfg.FrozenStages >= 0 {
		freeze(stem)
		y = StopGradient(y)
	}
	blocks := Blocks()
	var stageScopes []*mlmodel.Scope
	for _, b := range blocks {
		bs := scope.In("%s", BlockScope(b.Index))
		y = invertedResidual(bs, y, b, cfg.Method)
		stageScopes = append(stageScopes, bs)
		lastOfStage := b.Index == len(blocks)-1 || blocks[b.Index+1].Stage != b.Stage
		if lastOfStage {
			if b.Stage+1 <= cfg.FrozenStages {
				freeze(stageScopes...)
				y = StopGradient(y)
			}
			stageScopes = stageScopes[:0]
		}
		switch b.Index {
		case C3Block:
			c3 = y
		case C4Block:
			c4 = y
		}
	}
	b16 = y
	if last {
		ls := scope.In(LastScope)
		top = nn.ReLU6(conv(ls, y, LastChannels, 1, 1, cfg.Method))
		if cfg.FrozenStages > len(Stages) {
			freeze(ls)
			top = StopGradient(top)
		}
	}
	return c3, c4, b16, top
}

// Backbone builds MobileNetV2 on images [B,H,W,3] (RGB, (pixel-128)/128)
// and returns the features at strides 8, 16 and 32: C3 [B,H/8,W/8,32]
// (output of block 5), C4 [B,H/16,W/16,96] (block 12) and C5
// [B,H/32,W/32,1280] (the last 1x1 convolution after ReLU6; 320 channels,
// the last block's linear output, with cfg.C5 = C5Block320). Sizes are
// ceil-divided for inputs that are not multiples of 32. Variables are
// created under scope (see the package documentation for their names),
// and reused when they already exist (e.g. loaded by LoadTFLite).
// Panics on an invalid cfg or input shape, as graph builders do.
func Backbone(scope *mlmodel.Scope, images *Node, cfg Config) (c3, c4, c5 *Node) {
	c3, c4, b16, top := features(scope, images, cfg, cfg.C5 == C5Last)
	if cfg.C5 == C5Block320 {
		return c3, c4, b16
	}
	return c3, c4, top
}

// Classifier builds the ImageNet classifier on images [B,H,W,3] (RGB,
// (pixel-128)/128; 224x224 for the pretrained weights) and returns the
// logits [B, NumClasses] (index 0 is "background"; softmax gives the
// probabilities). The pooling is a global average, which equals the
// TFLite model's 7x7 average pool at 224x224. Nothing is frozen.
func Classifier(scope *mlmodel.Scope, images *Node) *Node {
	scope = scope.ResetVisited()
	_, _, _, top := features(scope, images, Config{FrozenStages: -1}, true)
	pooled := ReduceAndKeep(top, ReduceMean, 1, 2) // [B,1,1,1280]
	logits := conv(scope.In("Logits").In("Conv2d_1c_1x1"), pooled, NumClasses, 1, 1, nn.ConvAuto)
	return Reshape(logits, images.Shape().Dim(0), NumClasses)
}
