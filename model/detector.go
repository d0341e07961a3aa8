package model

import (
	"strings"

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
// The network is the layer list of Describe(cfg), built op by op (see
// BuildOps); the MobileNetV2 backbone is built by mobilenet.Backbone, which
// follows the same table as Describe.
//
// The graph is a training graph when the Store says so
// (scope.SetTraining(g, true)): batch-norm ("bn") then uses batch statistics
// and updates its running statistics.
func Forward(scope *mlmodel.Scope, cfg Config, images *Node) Outputs {
	arch, err := Describe(cfg)
	if err != nil {
		exceptions.Panicf("model.Forward: %v", err)
	}
	if images.Rank() != 4 || images.Shape().Dim(3) != 3 {
		exceptions.Panicf("model.Forward: images must be [B,H,W,3], got %s", images.Shape())
	}
	nn.SetSeed(scope, cfg.Seed)
	scope = scope.ResetVisited()
	var vals []*Node
	if cfg.Backbone == BackboneMobileNetV2 {
		mc := mobilenet.DefaultConfig()
		mc.FrozenStages = cfg.FrozenStages
		c3, c4, c5 := mobilenet.Backbone(scope.In("backbone"), images, mc)
		vals = make([]*Node, len(arch.Ops))
		vals[arch.C3], vals[arch.C4], vals[arch.C5] = c3, c4, c5
		vals = BuildOps(scope, arch.Ops[arch.C5+1:], arch.C5+1, vals, images)
	} else {
		vals = BuildOps(scope, arch.Ops, 0, nil, images)
	}
	out := Outputs{}
	for _, id := range arch.Pyramid {
		out.Features = append(out.Features, vals[id])
	}
	for _, p := range out.Features {
		// The same scope for every level: the head variables are shared.
		cls, box := heads(scope.At("head"), arch, p)
		out.Cls = append(out.Cls, cls)
		out.Box = append(out.Box, box)
	}
	return out
}

// scopeAt returns the scope at the "/"-separated path under scope (with
// Scope.At: Describe's names are unique, which TestDescribeNames checks).
func scopeAt(scope *mlmodel.Scope, path string) *mlmodel.Scope {
	for _, s := range strings.Split(path, "/") {
		scope = scope.At("%s", s)
	}
	return scope
}

// BuildOps builds ops in the graph of input (the value of InputImage),
// with variables under scope. ops[i] is op number first+i of its list;
// vals holds the values of the list's earlier ops (nil: none; it is
// extended) and is returned with the new values.
func BuildOps(scope *mlmodel.Scope, ops []Op, first int, vals []*Node, input *Node) []*Node {
	if len(vals) < first+len(ops) {
		vals = append(vals, make([]*Node, first+len(ops)-len(vals))...)
	}
	get := func(id int) *Node {
		if id == InputImage {
			return input
		}
		return vals[id]
	}
	for i, op := range ops {
		var y *Node
		switch op.Kind {
		case OpConv:
			y = nn.Conv{Out: op.Out, Kernel: op.Kernel, Stride: op.Stride, Padding: op.Padding, Bias: op.Bias,
				Init: op.Init, BiasInit: op.BiasInit}.Apply(scopeAt(scope, op.Name), get(op.Inputs[0]))
			if op.HasNorm() {
				y = op.Norm.Apply(scopeAt(scope, op.NormName), y)
			}
		case OpDepthwise:
			y = nn.Depthwise{Kernel: op.Kernel, Stride: op.Stride, Padding: op.Padding, Bias: op.Bias}.Apply(scopeAt(scope, op.Name), get(op.Inputs[0]))
		case OpMaxPool:
			y = nn.MaxPool2D(get(op.Inputs[0]), op.Kernel, op.Stride, op.Padding)
		case OpAdd:
			y = Add(get(op.Inputs[0]), get(op.Inputs[1]))
		case OpUpsampleAdd:
			x := get(op.Inputs[0])
			y = Add(x, nn.UpsampleNearestTo(get(op.Inputs[1]), x.Shape().Dim(1), x.Shape().Dim(2)))
		case OpAct:
			y = get(op.Inputs[0])
		default:
			exceptions.Panicf("model.BuildOps: unknown op kind %s", op.Kind)
		}
		switch op.Act {
		case ActReLU:
			y = nn.ReLU(y)
		case ActReLU6:
			y = nn.ReLU6(y)
		}
		if op.Freeze != "" {
			nn.SetTrainable(scopeAt(scope, op.Freeze), false)
			y = StopGradient(y)
		}
		vals[first+i] = y
	}
	return vals
}

// heads applies the classification and box branches to one level p
// [B,h,w,C] and flattens them to [B, h*w*A, K] and [B, h*w*A, 4] (row y,
// column x, anchor a).
func heads(scope *mlmodel.Scope, arch Arch, p *Node) (cls, box *Node) {
	b, h, w := p.Shape().Dim(0), p.Shape().Dim(1), p.Shape().Dim(2)
	a, k := arch.NumAnchors, arch.NumClasses
	cls, box = headMapsArch(scope, arch, p)
	return Reshape(cls, b, h*w*a, k), Reshape(box, b, h*w*a, 4)
}

// headMaps is the classification and box branches on one level p
// [B,h,w,C] (Arch.Head) with variables under scope (the model scope's
// "head"). Returns the maps [B,h,w,A*K] and [B,h,w,A*4].
func headMaps(scope *mlmodel.Scope, cfg Config, p *Node) (cls, box *Node) {
	return headMapsArch(scope, MustDescribe(cfg), p)
}

// headMapsArch is headMaps for a described architecture. The head ops'
// names start with "head/", which scope already is.
func headMapsArch(scope *mlmodel.Scope, arch Arch, p *Node) (cls, box *Node) {
	branch := func(ops []Op) *Node {
		local := make([]Op, len(ops))
		for i, op := range ops {
			op.Name = strings.TrimPrefix(op.Name, "head/")
			if op.NormName != "" {
				op.NormName = strings.TrimPrefix(op.NormName, "head/")
			}
			local[i] = op
		}
		vals := BuildOps(scope, local, 0, nil, p)
		return vals[len(vals)-1]
	}
	return branch(arch.Head.Cls), branch(arch.Head.Box)
}
