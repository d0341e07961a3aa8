package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/nn"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// TestDescribeNames checks that the layer list names exactly the variables
// the graph builder creates, with their shapes, that names are unique and
// that inputs refer to earlier ops, for every backbone and norm.
func TestDescribeNames(t *testing.T) {
	withBackbone := func(name string, norm nn.NormKind, headNorm nn.NormKind) Config {
		c := smallConfig()
		c.Backbone, c.Norm, c.HeadNorm = name, norm, headNorm
		if name == BackboneMobileNetV2 {
			c.Norm = nn.NormNone
		}
		return c
	}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"tiny_gn", withBackbone(BackboneTiny, nn.NormGN, nn.NormNone)},
		{"tiny_bn_headgn", withBackbone(BackboneTiny, nn.NormBN, nn.NormGN)},
		{"resnet18_frozen", withBackbone(BackboneResNet18, nn.NormFrozenBN, nn.NormNone)},
		{"resnet34_none", withBackbone(BackboneResNet34, nn.NormNone, nn.NormNone)},
		{"resnet50_frozen", withBackbone(BackboneResNet50, nn.NormFrozenBN, nn.NormGN)},
		{"mobilenet", withBackbone(BackboneMobileNetV2, nn.NormNone, nn.NormGN)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.ReLUBeforeP7 = c.name == "tiny_gn"
			arch, err := Describe(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ops := append(append(slices.Clone(arch.Ops), arch.Head.Cls...), arch.Head.Box...)
			seen := map[string]bool{}
			for _, op := range ops {
				for _, n := range []string{op.Name, op.NormName} {
					if n != "" && seen[n] {
						t.Errorf("scope %q used twice", n)
					}
					seen[n] = n != ""
				}
			}
			checkInputs := func(list []Op, what string) {
				for i, op := range list {
					for _, in := range op.Inputs {
						if in != InputImage && (in < 0 || in >= i) {
							t.Errorf("%s op %d (%s %s) reads %d", what, i, op.Kind, op.Name, in)
						}
					}
				}
			}
			checkInputs(arch.Ops, "backbone/FPN")
			checkInputs(arch.Head.Cls, "cls")
			checkInputs(arch.Head.Box, "box")
			want := VariableShapes(ops)
			_, _, store := outputShapes(t, c.cfg, shapes.Make(dtypes.Float32, 1, 64, 64, 3))
			got := map[string][]int{}
			for v := range store.IterVariables() {
				got[strings.TrimPrefix(v.Path(), "/")] = v.Shape().Dimensions
			}
			if len(got) != len(want) {
				t.Errorf("the graph has %d variables, the description %d", len(got), len(want))
			}
			for name, shape := range want {
				if g, ok := got[name]; !ok || !slices.Equal(g, shape) {
					t.Errorf("variable %s: graph %v, description %v", name, g, shape)
				}
			}
			if p := arch.Pyramid; arch.Ops[p[0]].Out != c.cfg.FPNChannels || arch.Ops[p[4]].Stride != 2 {
				t.Errorf("pyramid ops %v", p)
			}
			cls, box := arch.Head.Cls, arch.Head.Box
			if len(cls) != c.cfg.HeadConvs+1 || cls[len(cls)-1].Out != c.cfg.NumAnchors*c.cfg.NumClasses || box[len(box)-1].Out != 4*c.cfg.NumAnchors {
				t.Errorf("heads %d ops, outputs %d and %d", len(cls), cls[len(cls)-1].Out, box[len(box)-1].Out)
			}
		})
	}
	if _, err := Describe(Config{Backbone: "vgg"}); err == nil || !strings.Contains(err.Error(), "backbone") {
		t.Errorf("Describe of an invalid configuration: %v", err)
	}
}

// TestDescribeStrings checks the names of kinds and activations.
func TestDescribeStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{OpConv.String(), "conv"}, {OpUpsampleAdd.String(), "upsample_add"}, {OpKind(99).String(), "OpKind(99)"},
		{ActReLU6.String(), "relu6"}, {Activation(9).String(), "Activation(9)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
