package model

import (
	"math"

	"github.com/ghmdet/ghmdet/nn"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Variable scopes mirror torchvision's ResNet names ("stem/conv1",
// "stem/bn1" for torchvision's "conv1", "bn1"; "layer1/0/conv1",
// "layer1/0/downsample/0", ...) so that pretrained weights map one to one.

// convBN is a bias-free convolution followed by the backbone norm under
// scopes convName and bnName of scope.
func convBN(scope *mlmodel.Scope, x *Node, norm nn.Norm, convName, bnName string, out, k, stride int) *Node {
	y := nn.Conv{Out: out, Kernel: k, Stride: stride}.Apply(scope.In("%s", convName), x)
	return norm.Apply(scope.In("%s", bnName), y)
}

// basicBlock is ResNet's two-3x3 block with identity or 1x1 projection
// shortcut.
func basicBlock(scope *mlmodel.Scope, x *Node, norm nn.Norm, out, stride int) *Node {
	y := nn.ReLU(convBN(scope, x, norm, "conv1", "bn1", out, 3, stride))
	y = convBN(scope, y, norm, "conv2", "bn2", out, 3, 1)
	return nn.ReLU(Add(y, shortcut(scope, x, norm, out, stride)))
}

// bottleneck is ResNet v1.5's 1x1-3x3-1x1 block (stride on the 3x3, as
// torchvision), expansion 4.
func bottleneck(scope *mlmodel.Scope, x *Node, norm nn.Norm, width, stride int) *Node {
	y := nn.ReLU(convBN(scope, x, norm, "conv1", "bn1", width, 1, 1))
	y = nn.ReLU(convBN(scope, y, norm, "conv2", "bn2", width, 3, stride))
	y = convBN(scope, y, norm, "conv3", "bn3", 4*width, 1, 1)
	return nn.ReLU(Add(y, shortcut(scope, x, norm, 4*width, stride)))
}

// shortcut is the identity, or a strided 1x1 conv + norm when the shape
// changes ("downsample/0" and "downsample/1").
func shortcut(scope *mlmodel.Scope, x *Node, norm nn.Norm, out, stride int) *Node {
	if stride == 1 && x.Shape().Dim(3) == out {
		return x
	}
	ds := scope.In("downsample")
	return convBN(ds, x, norm, "0", "1", out, 1, stride)
}

// backboneFeatures are the outputs the FPN uses.
type backboneFeatures struct {
	C3, C4, C5 *Node
}

// endStage finishes stage s (0..3 after the stem) of a ResNet-style backbone
// whose output is y: the stage is frozen (its variables under layer made
// non-trainable, the gradient stopped at y) when cfg.FrozenStages covers it,
// and stages 1, 2 and 3 are recorded as C3, C4 and C5. It returns the input
// of the next stage.
func (f *backboneFeatures) endStage(layer *mlmodel.Scope, cfg Config, s int, y *Node) *Node {
	if s+1 <= cfg.FrozenStages {
		y = freeze(layer, y)
	}
	switch s {
	case 1:
		f.C3 = y
	case 2:
		f.C4 = y
	case 3:
		f.C5 = y
	}
	return y
}

// stageNorm is the backbone norm of stage s (0 = stem), frozen (running
// statistics for "bn") when the stage is.
func stageNorm(cfg Config, s int) nn.Norm {
	return nn.Norm{Kind: cfg.Norm, Frozen: s <= cfg.FrozenStages}
}

// freeze marks the variables under scope non-trainable and stops the
// gradient at x (the output of the frozen part).
func freeze(scope *mlmodel.Scope, x *Node) *Node {
	nn.SetTrainable(scope, false)
	return StopGradient(x)
}

// resNet builds ResNet-18/34/50 (torchvision layout) and returns C3..C5.
func resNet(scope *mlmodel.Scope, cfg Config, x *Node) backboneFeatures {
	var blocks []int
	bottle := false
	switch cfg.Backbone {
	case BackboneResNet18:
		blocks = []int{2, 2, 2, 2}
	case BackboneResNet34:
		blocks = []int{3, 4, 6, 3}
	case BackboneResNet50:
		blocks, bottle = []int{3, 4, 6, 3}, true
	default:
		exceptions.Panicf("model: backbone %q is not a ResNet", cfg.Backbone)
	}
	stem := scope.In("stem")
	y := nn.ReLU(convBN(stem, x, stageNorm(cfg, 0), "conv1", "bn1", 64, 7, 2))
	y = nn.MaxPool2D(y, 3, 2, nn.PadSymmetric)
	if cfg.FrozenStages >= 0 {
		y = freeze(stem, y)
	}
	var feats backboneFeatures
	for s, n := range blocks {
		layer := scope.In("layer%d", s+1)
		width := 64 << s
		for b := range n {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			if bottle {
				y = bottleneck(layer.In("%d", b), y, stageNorm(cfg, s+1), width, stride)
			} else {
				y = basicBlock(layer.In("%d", b), y, stageNorm(cfg, s+1), width, stride)
			}
		}
		y = feats.endStage(layer, cfg, s, y)
	}
	return feats
}

// tinyNet is the CPU backbone: a 3x3 stride-2 stem of TinyWidths[0]
// channels, then four stages of TinyBlocks[s] basic blocks of TinyWidths[s]
// channels, each stage starting with a stride-2 block: strides 4, 8, 16, 32;
// C3..C5 are stages 2..4.
func tinyNet(scope *mlmodel.Scope, cfg Config, x *Node) backboneFeatures {
	widths, blocks := cfg.tinyWidths(), cfg.tinyBlocks()
	stem := scope.In("stem")
	y := nn.ReLU(convBN(stem, x, stageNorm(cfg, 0), "conv1", "bn1", widths[0], 3, 2))
	if cfg.FrozenStages >= 0 {
		y = freeze(stem, y)
	}
	var feats backboneFeatures
	for s := range 4 {
		layer := scope.In("layer%d", s+1)
		for b := range blocks[s] {
			stride := 1
			if b == 0 {
				stride = 2
			}
			y = basicBlock(layer.In("%d", b), y, stageNorm(cfg, s+1), widths[s], stride)
		}
		y = feats.endStage(layer, cfg, s, y)
	}
	return feats
}

// fanInStd is sqrt(1/fan_in) for a k x k kernel over cin channels.
func fanInStd(k, cin int) float64 {
	return 1 / math.Sqrt(float64(k*k*cin))
}
