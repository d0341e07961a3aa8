package model

import (
	"github.com/ghmdet/ghmdet/model/mobilenet"
	"github.com/ghmdet/ghmdet/nn"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Outputs are the detector's per-level predictions, levels in order P3..P7.
type Outputs struct {
	// Cls[l] holds class logits [B, H_l*W_l*A, K], flattened (y, x, a).
	Cls []*Node
	// Box[l] holds box deltas (dx, dy, log dw, log dh) [B, H_l*W_l*A, 4],
	// flattened (y, x, a).
	Box []*Node
	// Features[l] is the pyramid level P3+l [B, H_l, W_l, FPNChannels].
	Features []*Node
}

// Forward builds the detector on images [B,H,W,3] (normalised RGB) and
// returns the per-level outputs. Variables are created under scope on the
// first call ("backbone", "fpn", "head") and reused by later calls (e.g. an
// inference graph after a training graph). cfg must be valid (see
// Config.Validate); Forward panics otherwise, as graph-building functions do.
//
// The graph is a training graph when the Store says so
// (scope.SetTraining(g, true)): batch-norm ("bn") then uses batch statistics
// and updates its running statistics.
func Forward(scope *mlmodel.Scope, cfg Config, images *Node) Outputs {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("model.Forward: %v", err)
	}
	if images.Rank() != 4 || images.Shape().Dim(3) != 3 {
		exceptions.Panicf("model.Forward: images must be [B,H,W,3], got %s", images.Shape())
	}
	nn.SetSeed(scope, cfg.Seed)
	scope = scope.ResetVisited()
	var feats backboneFeatures
	switch cfg.Backbone {
	case BackboneTiny:
		feats = tinyNet(scope.In("backbone"), cfg, images)
	case BackboneMobileNetV2:
		mc := mobilenet.DefaultConfig()
		mc.FrozenStages = cfg.FrozenStages
		feats.C3, feats.C4, feats.C5 = mobilenet.Backbone(scope.In("backbone"), images, mc)
	default:
		feats = resNet(scope.In("backbone"), cfg, images)
	}
	pyramid := fpn(scope.In("fpn"), cfg, feats)
	head := scope.In("head")
	out := Outputs{Features: pyramid}
	for _, p := range pyramid {
		// The same scope for every level: the head variables are shared.
		cls, box := heads(head.ResetVisited(), cfg, p)
		out.Cls = append(out.Cls, cls)
		out.Box = append(out.Box, box)
	}
	return out
}

// fpn builds P3..P7 from C3..C5: lateral 1x1 convs, top-down nearest
// upsampling and addition, 3x3 output convs; P6 = 3x3 stride-2 conv on C5,
// P7 = 3x3 stride-2 conv on P6 (after a ReLU if cfg.ReLUBeforeP7). All convs
// have biases; weights are N(0, 1/fan_in) (the variance of torchvision's
// kaiming_uniform_(a=1)), biases 0.
func fpn(scope *mlmodel.Scope, cfg Config, f backboneFeatures) []*Node {
	ch := cfg.FPNChannels
	conv := func(name string, x *Node, k, stride int) *Node {
		init := nn.NormalInit(fanInStd(k, x.Shape().Dim(3)))
		return nn.Conv{Out: ch, Kernel: k, Stride: stride, Bias: true, Init: &init}.Apply(scope.In("%s", name), x)
	}
	l5 := conv("lateral5", f.C5, 1, 1)
	l4 := conv("lateral4", f.C4, 1, 1)
	l3 := conv("lateral3", f.C3, 1, 1)
	t4 := Add(l4, nn.UpsampleNearestTo(l5, l4.Shape().Dim(1), l4.Shape().Dim(2)))
	t3 := Add(l3, nn.UpsampleNearestTo(t4, l3.Shape().Dim(1), l3.Shape().Dim(2)))
	p3 := conv("output3", t3, 3, 1)
	p4 := conv("output4", t4, 3, 1)
	p5 := conv("output5", l5, 3, 1)
	p6 := conv("p6", f.C5, 3, 2)
	in7 := p6
	if cfg.ReLUBeforeP7 {
		in7 = nn.ReLU(p6)
	}
	p7 := conv("p7", in7, 3, 2)
	return []*Node{p3, p4, p5, p6, p7}
}

// heads applies the classification and box branches to one level p
// [B,h,w,C] and flattens them to [B, h*w*A, K] and [B, h*w*A, 4] (row y,
// column x, anchor a).
func heads(scope *mlmodel.Scope, cfg Config, p *Node) (cls, box *Node) {
	b, h, w := p.Shape().Dim(0), p.Shape().Dim(1), p.Shape().Dim(2)
	a, k := cfg.NumAnchors, cfg.NumClasses
	cls, box = headMaps(scope, cfg, p)
	return Reshape(cls, b, h*w*a, k), Reshape(box, b, h*w*a, 4)
}

// headMaps is the classification and box branches on one level p [B,h,w,C]:
// each HeadConvs x (3x3 conv, [GN], ReLU) and a 3x3 prediction conv;
// weights N(0, 0.01^2), biases 0 except the class bias -log((1-p)/p).
// Returns the maps [B,h,w,A*K] and [B,h,w,A*4].
func headMaps(scope *mlmodel.Scope, cfg Config, p *Node) (cls, box *Node) {
	a, k := cfg.NumAnchors, cfg.NumClasses
	std := nn.NormalInit(0.01)
	branch := func(name string, out int, bias nn.Init) *Node {
		s := scope.In("%s", name)
		y := p
		for i := range cfg.HeadConvs {
			y = nn.Conv{Out: cfg.HeadWidth, Kernel: 3, Bias: cfg.HeadNorm == nn.NormNone, Init: &std}.Apply(s.In("conv%d", i), y)
			y = nn.Norm{Kind: cfg.HeadNorm}.Apply(s.In("norm%d", i), y)
			y = nn.ReLU(y)
		}
		return nn.Conv{Out: out, Kernel: 3, Bias: true, Init: &std, BiasInit: &bias}.Apply(s.In("predict"), y)
	}
	cls = branch("cls", a*k, nn.ConstantInit(nn.PriorBias(cfg.PriorProb)))
	box = branch("box", a*4, nn.ZerosInit())
	return cls, box
}
