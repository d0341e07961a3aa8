// Package model builds the RetinaNet-FPN detector graph: a backbone
// (ResNet-18/34/50 or a small CPU network) giving C3..C5, a feature pyramid
// P3..P7 and the classification and box heads shared by all levels.
//
// Tensors are NHWC float32. The input is a batch of normalised RGB images
// [B,H,W,3]; the outputs per level l (P3..P7, strides 8..128) are class
// logits [B, H_l*W_l*A, K] and box deltas [B, H_l*W_l*A, 4], flattened in the
// order row y, column x, anchor a: the order in which the box package
// generates anchors (level, y, x, a with a = ratioIndex*3 + scaleIndex).
//
// The network is described once, as a list of layers with their variable
// names (Describe, Arch, Op): Forward builds the GoMLX graph from it, and
// the plain-Go inference engine (package engine) runs the same list over a
// trained model's weights.
//
// Presets (Preset, PresetNames): "reference" (ResNet-50, frozen batch-norm,
// stem and stage 1 frozen, FPN 256, 4 head convs of 256, 1344x800 canvas, 80
// classes) and "cpu" (tiny backbone with group-norm, FPN 64, 2 head convs of
// 64, 256x256). Measured on 2 cores (BenchmarkCPUPreset,
// BenchmarkResNet50FPN): the cpu preset at batch 4 takes about 0.07 s
// forward and 0.2 s forward+backward; the reference network at 512x512,
// batch 1, about 1.6 s forward and 5 s forward+backward.
package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ghmdet/ghmdet/nn"
)

// Backbone names.
const (
	BackboneResNet18 = "resnet18"
	BackboneResNet34 = "resnet34"
	BackboneResNet50 = "resnet50"
	// BackboneTiny is a small network for CPU training from scratch: a 3x3
	// stride-2 stem and four stages of basic blocks, each starting with a
	// stride-2 block (C3..C5 at strides 8/16/32 are stages 2..4).
	BackboneTiny = "tiny"
	// BackboneMobileNetV2 is MobileNetV2 1.0 (package model/mobilenet):
	// C3..C5 are the outputs of blocks 5 and 12 (32 and 96 channels) and the
	// last 1x1 convolution (1280 channels). Its inputs are RGB scaled to
	// (pixel-128)/128 and its convolutions use TensorFlow SAME padding, so
	// that ImageNet weights import from a TFLite file (backbone_weights).
	BackboneMobileNetV2 = "mobilenetv2"
)

// Backbones lists the valid Config.Backbone values.
var Backbones = []string{BackboneResNet18, BackboneResNet34, BackboneResNet50, BackboneTiny, BackboneMobileNetV2}

// Strides of the pyramid levels P3..P7.
var Strides = []int{8, 16, 32, 64, 128}

// NumLevels is the number of pyramid levels (P3..P7).
const NumLevels = 5

// Config describes the detector. Presets (see Preset) fill every field; a
// YAML file may override any of them (keys in snake_case).
type Config struct {
	// Backbone: "resnet18", "resnet34", "resnet50" or "tiny".
	Backbone string `yaml:"backbone"`
	// Norm of the backbone: "frozen_bn" (the reference; statistics and affine
	// fixed, loaded from pretrained weights), "bn" (batch statistics while
	// training), "gn" (group-norm: the safe choice from scratch on tiny
	// batches) or "none".
	Norm nn.NormKind `yaml:"norm"`
	// FrozenStages freezes the stem and the first FrozenStages stages (their
	// variables are not trainable and no gradient flows into them), as
	// mmdetection: -1 freezes nothing, 0 the stem only, 1 the stem and stage 1
	// (the reference).
	FrozenStages int `yaml:"frozen_stages"`
	// TinyWidths are the channel widths of the tiny backbone's stages 1..4
	// (the stem has TinyWidths[0] channels). Default 16, 32, 64, 128.
	TinyWidths []int `yaml:"tiny_widths"`
	// TinyBlocks is the number of basic blocks per stage of the tiny
	// backbone. Default 1, 1, 1, 1.
	TinyBlocks []int `yaml:"tiny_blocks"`
	// BackboneWeights is a file of pretrained backbone weights loaded before
	// training: a TFLite MobileNetV2 for backbone "mobilenetv2" (empty: train
	// from scratch).
	BackboneWeights string `yaml:"backbone_weights"`
	// FPNChannels is the width of every pyramid level (reference 256).
	FPNChannels int `yaml:"fpn_channels"`
	// HeadConvs is the number of 3x3 conv + ReLU layers in each head branch
	// before the prediction conv (reference 4).
	HeadConvs int `yaml:"head_convs"`
	// HeadWidth is the width of those layers (reference 256).
	HeadWidth int `yaml:"head_width"`
	// HeadNorm of the head layers: "none" (the reference) or "gn".
	HeadNorm nn.NormKind `yaml:"head_norm"`
	// NumClasses K (without background; sigmoid classification).
	NumClasses int `yaml:"num_classes"`
	// NumAnchors A per location (reference 9: 3 ratios x 3 scales).
	NumAnchors int `yaml:"num_anchors"`
	// PriorProb sets the initial class bias -log((1-p)/p) (reference 0.01).
	PriorProb float64 `yaml:"prior_prob"`
	// ReLUBeforeP7 applies a ReLU to P6 before the conv giving P7 (torchvision
	// and detectron2 do; the reference does not).
	ReLUBeforeP7 bool `yaml:"relu_before_p7"`
	// InputWidth and InputHeight: the training input size. The reference
	// resizes each image to fit within 1333 x 800 (long x short side) and pads
	// to a multiple of 32; the CPU preset uses fixed 256 x 256 inputs.
	InputWidth  int `yaml:"input_width"`
	InputHeight int `yaml:"input_height"`
	// Seed of the weight initialisation: the same seed gives the same initial
	// weights.
	Seed int64 `yaml:"seed"`
}

// presets maps each preset name to its configuration.
var presets = map[string]Config{
	// MobileNetV2 (ImageNet-pretrained when backbone_weights is set) for
	// real data with few images: FPN 64, heads 2 x 64, 256 x 256 inputs.
	// NumClasses is BCCD's 3 (set it from the dataset).
	"mobilenet": {
		Backbone:     BackboneMobileNetV2,
		Norm:         nn.NormNone,
		FrozenStages: 1,
		FPNChannels:  64,
		HeadConvs:    2,
		HeadWidth:    64,
		HeadNorm:     nn.NormGN,
		NumClasses:   3,
		NumAnchors:   9,
		PriorProb:    0.01,
		InputWidth:   256,
		InputHeight:  256,
		Seed:         1,
	},
	// The published RetinaNet GHM configuration (see spec/retinanet.md).
	"reference": {
		Backbone:     BackboneResNet50,
		Norm:         nn.NormFrozenBN,
		FrozenStages: 1,
		FPNChannels:  256,
		HeadConvs:    4,
		HeadWidth:    256,
		HeadNorm:     nn.NormNone,
		NumClasses:   80,
		NumAnchors:   9,
		PriorProb:    0.01,
		ReLUBeforeP7: false,
		InputWidth:   1344,
		InputHeight:  800,
		Seed:         1,
	},
	// A detector that trains from scratch on a 2-core CPU: tiny backbone
	// with group-norm, narrow FPN and heads, 256 x 256 inputs. NumClasses is
	// BCCD's 3 (set it from the dataset).
	"cpu": {
		Backbone:     BackboneTiny,
		Norm:         nn.NormGN,
		FrozenStages: -1,
		TinyWidths:   []int{16, 32, 64, 128},
		TinyBlocks:   []int{1, 1, 1, 1},
		FPNChannels:  64,
		HeadConvs:    2,
		HeadWidth:    64,
		HeadNorm:     nn.NormNone,
		NumClasses:   3,
		NumAnchors:   9,
		PriorProb:    0.01,
		ReLUBeforeP7: false,
		InputWidth:   256,
		InputHeight:  256,
		Seed:         1,
	},
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a copy of the named configuration.
func Preset(name string) (Config, error) {
	c, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown model preset %q (allowed: %s)", name, strings.Join(PresetNames(), ", "))
	}
	c.TinyWidths = slices.Clone(c.TinyWidths)
	c.TinyBlocks = slices.Clone(c.TinyBlocks)
	return c, nil
}

// tinyWidths returns the tiny backbone widths (defaults filled in).
func (c Config) tinyWidths() []int {
	if len(c.TinyWidths) == 0 {
		return []int{16, 32, 64, 128}
	}
	return c.TinyWidths
}

// tinyBlocks returns the tiny backbone blocks per stage (defaults filled in).
func (c Config) tinyBlocks() []int {
	if len(c.TinyBlocks) == 0 {
		return []int{1, 1, 1, 1}
	}
	return c.TinyBlocks
}

// Validate reports the first invalid field, naming its YAML key and the
// allowed values.
func (c Config) Validate() error {
	if !slices.Contains(Backbones, c.Backbone) {
		return fmt.Errorf("model config: backbone %q unknown (allowed: %s)", c.Backbone, strings.Join(Backbones, ", "))
	}
	if err := c.Norm.Validate(); err != nil {
		return fmt.Errorf("model config: norm: %w", err)
	}
	if c.HeadNorm != nn.NormNone && c.HeadNorm != nn.NormGN {
		return fmt.Errorf("model config: head_norm %q unknown (allowed: none, gn)", string(c.HeadNorm))
	}
	maxFrozen := 4
	if c.Backbone == BackboneMobileNetV2 {
		maxFrozen = 8 // stem, 7 rows of inverted residual blocks, last conv
	}
	if c.FrozenStages < -1 || c.FrozenStages > maxFrozen {
		return fmt.Errorf("model config: frozen_stages %d out of range [-1, %d] for backbone %s", c.FrozenStages, maxFrozen, c.Backbone)
	}
	if c.BackboneWeights != "" && c.Backbone != BackboneMobileNetV2 {
		return fmt.Errorf("model config: backbone_weights is supported for backbone %s only (got backbone %s)", BackboneMobileNetV2, c.Backbone)
	}
	if c.Backbone == BackboneTiny {
		w, b := c.tinyWidths(), c.tinyBlocks()
		if len(w) != 4 || len(b) != 4 {
			return fmt.Errorf("model config: tiny_widths and tiny_blocks need 4 values (stages 1..4), got %v and %v", w, b)
		}
		for i := range 4 {
			if w[i] < 1 || b[i] < 1 {
				return fmt.Errorf("model config: tiny_widths %v and tiny_blocks %v must be positive", w, b)
			}
		}
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"fpn_channels", c.FPNChannels}, {"head_width", c.HeadWidth}, {"num_classes", c.NumClasses}, {"num_anchors", c.NumAnchors}} {
		if f.v < 1 {
			return fmt.Errorf("model config: %s must be >= 1, got %d", f.key, f.v)
		}
	}
	if c.HeadConvs < 0 {
		return fmt.Errorf("model config: head_convs must be >= 0, got %d", c.HeadConvs)
	}
	if !(c.PriorProb > 0 && c.PriorProb < 1) {
		return fmt.Errorf("model config: prior_prob must be in (0, 1), got %g", c.PriorProb)
	}
	if c.InputWidth < 1 || c.InputHeight < 1 {
		return fmt.Errorf("model config: input_width and input_height must be >= 1, got %d x %d", c.InputWidth, c.InputHeight)
	}
	return nil
}

// LevelSizes returns the feature-map size [H_l, W_l] of P3..P7 for an input
// of height h and width w. Every stride-2 layer of the network (convs with
// symmetric padding (k-1)/2, the max-pool, strided 1x1 shortcuts) maps a
// size n to ceil(n/2), so H_l = ceil(h / stride_l): exactly h/stride_l when
// h is a multiple of 128. The configuration does not change the rule.
func LevelSizes(cfg Config, h, w int) [][2]int {
	_ = cfg
	out := make([][2]int, NumLevels)
	for l, s := range Strides {
		out[l] = [2]int{ceilDiv(h, s), ceilDiv(w, s)}
	}
	return out
}

// NumAnchors returns the total number of anchors (outputs per image) over
// all levels for an input of height h and width w.
func NumAnchors(cfg Config, h, w int) int {
	n := 0
	for _, s := range LevelSizes(cfg, h, w) {
		n += s[0] * s[1] * cfg.NumAnchors
	}
	return n
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
