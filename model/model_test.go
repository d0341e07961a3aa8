package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/nn"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// smallConfig is a tiny detector for fast tests.
func smallConfig() Config {
	cfg, _ := Preset("cpu")
	cfg.TinyWidths = []int{4, 8, 8, 8}
	cfg.FPNChannels = 8
	cfg.HeadWidth = 8
	cfg.NumClasses = 2
	return cfg
}

// outputShapes builds the detector for an input of the given shape (without
// running it) and returns the Cls and Box shapes per level.
func outputShapes(t *testing.T, cfg Config, input shapes.Shape) (cls, box []shapes.Shape, store *mlmodel.Store) {
	t.Helper()
	store = mlmodel.NewStore()
	e, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) []*Node {
		out := Forward(scope, cfg, x)
		for l := range out.Cls {
			cls = append(cls, out.Cls[l].Shape())
			box = append(box, out.Box[l].Shape())
		}
		return append(out.Cls, out.Box...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(input); err != nil {
		t.Fatal(err)
	}
	return cls, box, store
}

func TestOutputShapes(t *testing.T) {
	r18 := smallConfig()
	r18.Backbone = BackboneResNet18
	r18.Norm = nn.NormFrozenBN
	r18.FrozenStages = 1
	cases := []struct {
		name        string
		cfg         Config
		batch, h, w int
		wantP3      [2]int
	}{
		{"cpu_256", mustPreset(t, "cpu"), 2, 256, 256, [2]int{32, 32}},
		{"cpu_512", mustPreset(t, "cpu"), 1, 512, 512, [2]int{64, 64}},
		{"cpu_nonsquare", mustPreset(t, "cpu"), 1, 384, 256, [2]int{48, 32}},
		{"small_odd", smallConfig(), 1, 200, 130, [2]int{25, 17}},
		{"resnet18_nonsquare", r18, 1, 128, 256, [2]int{16, 32}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cls, box, _ := outputShapes(t, c.cfg, shapes.Make(dtypes.Float32, c.batch, c.h, c.w, 3))
			sizes := LevelSizes(c.cfg, c.h, c.w)
			if sizes[0] != c.wantP3 {
				t.Errorf("LevelSizes P3 = %v, want %v", sizes[0], c.wantP3)
			}
			if len(cls) != NumLevels || len(box) != NumLevels {
				t.Fatalf("got %d/%d levels, want %d", len(cls), len(box), NumLevels)
			}
			total := 0
			for l := range NumLevels {
				n := sizes[l][0] * sizes[l][1] * c.cfg.NumAnchors
				total += n
				wantCls := shapes.Make(dtypes.Float32, c.batch, n, c.cfg.NumClasses)
				wantBox := shapes.Make(dtypes.Float32, c.batch, n, 4)
				if !cls[l].Equal(wantCls) || !box[l].Equal(wantBox) {
					t.Errorf("level P%d: cls %s box %s, want %s and %s", l+3, cls[l], box[l], wantCls, wantBox)
				}
			}
			if got := NumAnchors(c.cfg, c.h, c.w); got != total {
				t.Errorf("NumAnchors = %d, outputs hold %d", got, total)
			}
		})
	}
}

func mustPreset(t *testing.T, name string) Config {
	t.Helper()
	c, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLevelSizes(t *testing.T) {
	cfg := mustPreset(t, "reference")
	cases := []struct {
		h, w int
		want [][2]int
	}{
		{256, 256, [][2]int{{32, 32}, {16, 16}, {8, 8}, {4, 4}, {2, 2}}},
		{800, 1344, [][2]int{{100, 168}, {50, 84}, {25, 42}, {13, 21}, {7, 11}}},
		{33, 1, [][2]int{{5, 1}, {3, 1}, {2, 1}, {1, 1}, {1, 1}}},
	}
	for _, c := range cases {
		got := LevelSizes(cfg, c.h, c.w)
		for l := range got {
			if got[l] != c.want[l] {
				t.Errorf("LevelSizes(%d, %d) = %v, want %v", c.h, c.w, got, c.want)
				break
			}
		}
	}
	if got, want := NumAnchors(cfg, 256, 256), 9*(1024+256+64+16+4); got != want {
		t.Errorf("NumAnchors(256x256) = %d, want %d", got, want)
	}
}

// TestOutputOrder checks the (y, x, a) flattening of the outputs against
// the unflattened head maps: Cls[l][b][(y*W+x)*A+a][k] = map[b][y][x][a*K+k].
func TestOutputOrder(t *testing.T) {
	cfg := smallConfig()
	cfg.NumAnchors = 3
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(1, 2))
	const bs, h, w = 2, 64, 32
	outs, err := mlmodel.ExecOnceN(b, mlmodel.NewStore(), func(scope *mlmodel.Scope, x *Node) []*Node {
		o := Forward(scope, cfg, x)
		cls, box := headMaps(scope.At("head"), cfg, o.Features[1]) // same variables
		return []*Node{o.Cls[1], o.Box[1], cls, box}
	}, randImages(rng, bs, h, w))
	if err != nil {
		t.Fatal(err)
	}
	sz := LevelSizes(cfg, h, w)[1]
	a, k := cfg.NumAnchors, cfg.NumClasses
	flatCls, flatBox, mapCls, mapBox := flat32(outs[0]), flat32(outs[1]), flat32(outs[2]), flat32(outs[3])
	distinct := map[float32]bool{}
	for bi := range bs {
		for y := range sz[0] {
			for x := range sz[1] {
				for ai := range a {
					row := (bi*sz[0]*sz[1]+y*sz[1]+x)*a + ai
					for ki := range k {
						m := ((bi*sz[0]+y)*sz[1]+x)*a*k + ai*k + ki
						if flatCls[row*k+ki] != mapCls[m] {
							t.Fatalf("cls (b=%d,y=%d,x=%d,a=%d,k=%d): %g, map %g", bi, y, x, ai, ki, flatCls[row*k+ki], mapCls[m])
						}
						distinct[mapCls[m]] = true
					}
					for c := range 4 {
						m := ((bi*sz[0]+y)*sz[1]+x)*a*4 + ai*4 + c
						if flatBox[row*4+c] != mapBox[m] {
							t.Fatalf("box (b=%d,y=%d,x=%d,a=%d,c=%d) differs", bi, y, x, ai, c)
						}
					}
				}
			}
		}
	}
	if len(distinct) < len(mapCls)/2 {
		t.Errorf("only %d distinct values in %d: the order check is weak", len(distinct), len(mapCls))
	}
}

func randImages(rng *rand.Rand, b, h, w int) *tensors.Tensor {
	return randNHWC(rng, b, h, w, 3)
}

// randNHWC returns a [b,h,w,c] tensor of standard normal draws.
func randNHWC(rng *rand.Rand, b, h, w, c int) *tensors.Tensor {
	d := make([]float32, b*h*w*c)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(d, b, h, w, c)
}

func flat32(t *tensors.Tensor) []float32 {
	var out []float32
	tensors.ConstFlatData(t, func(d []float32) { out = append(out, d...) })
	return out
}

// TestHeadVariablesShared checks that the 5 levels use one set of head
// variables: their number does not depend on the number of levels, and it
// is what one level needs.
func TestHeadVariablesShared(t *testing.T) {
	for _, headNorm := range []nn.NormKind{nn.NormNone, nn.NormGN} {
		cfg := smallConfig()
		cfg.HeadConvs = 3
		cfg.HeadNorm = headNorm
		_, _, store := outputShapes(t, cfg, shapes.Make(dtypes.Float32, 1, 128, 128, 3))
		n := 0
		for v := range store.IterVariables() {
			if strings.HasPrefix(v.Path(), "/head/") {
				n++
			}
		}
		perConv := 2 // weights + biases
		if headNorm == nn.NormGN {
			perConv = 3 // weights + gamma + beta
		}
		want := 2 * (cfg.HeadConvs*perConv + 2)
		if n != want {
			t.Errorf("head norm %s: %d head variables, want %d (one set for all levels)", headNorm, n, want)
		}
	}
}

// TestFrozenStages checks that the stem and the first FrozenStages stages
// have no trainable variables, the rest does, and that frozen batch-norm
// is never trainable.
func TestFrozenStages(t *testing.T) {
	for _, c := range []struct {
		backbone string
		norm     nn.NormKind
		frozen   int
	}{
		{BackboneResNet18, nn.NormFrozenBN, 1},
		{BackboneResNet50, nn.NormFrozenBN, 2},
		{BackboneTiny, nn.NormGN, 0},
		{BackboneTiny, nn.NormGN, -1},
	} {
		cfg := smallConfig()
		cfg.Backbone, cfg.Norm, cfg.FrozenStages = c.backbone, c.norm, c.frozen
		_, _, store := outputShapes(t, cfg, shapes.Make(dtypes.Float32, 1, 64, 64, 3))
		frozenPrefixes := []string{}
		if c.frozen >= 0 {
			frozenPrefixes = append(frozenPrefixes, "/backbone/stem/")
		}
		for s := 1; s <= c.frozen; s++ {
			frozenPrefixes = append(frozenPrefixes, fmt.Sprintf("/backbone/layer%d/", s))
		}
		trainableBackbone := 0
		for v := range store.IterVariables() {
			p := v.Path()
			frozen := false
			for _, f := range frozenPrefixes {
				frozen = frozen || strings.HasPrefix(p, f)
			}
			isBN := c.norm == nn.NormFrozenBN && strings.Contains(p, "/bn") ||
				strings.Contains(p, "/downsample/1/")
			switch {
			case frozen && v.Trainable:
				t.Errorf("%s frozen_stages=%d: %s is trainable", c.backbone, c.frozen, p)
			case isBN && c.norm == nn.NormFrozenBN && v.Trainable:
				t.Errorf("%s: frozen batch-norm variable %s is trainable", c.backbone, p)
			case !frozen && strings.HasPrefix(p, "/backbone/") && v.Trainable:
				trainableBackbone++
			}
		}
		if trainableBackbone == 0 {
			t.Errorf("%s frozen_stages=%d: no trainable backbone variable left", c.backbone, c.frozen)
		}
	}
}

// TestInitReproducible checks that the same seed gives the same initial
// weights and another seed different ones.
func TestInitReproducible(t *testing.T) {
	b := backend.MustNew("")
	img := tensors.FromFlatDataAndDimensions(make([]float32, 64*64*3), 1, 64, 64, 3)
	values := func(seed int64) map[string][]float32 {
		cfg := smallConfig()
		cfg.Seed = seed
		store := mlmodel.NewStore()
		if _, err := mlmodel.ExecOnceN(b, store, func(scope *mlmodel.Scope, x *Node) []*Node {
			return Forward(scope, cfg, x).Cls
		}, img); err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{}
		for v := range store.IterVariables() {
			if v.Path() != "/"+mlmodel.RNGStateVariableName {
				out[v.Path()] = flat32(v.MustValue())
			}
		}
		return out
	}
	a, a2, c := values(7), values(7), values(8)
	if len(a) < 20 {
		t.Fatalf("only %d variables", len(a))
	}
	random := 0
	for p, v := range a {
		if !equalF(v, a2[p]) {
			t.Errorf("%s differs between two inits with seed 7", p)
		}
		if strings.HasSuffix(p, "/weights") {
			random++
			if equalF(v, c[p]) {
				t.Errorf("%s equal for seeds 7 and 8", p)
			}
		}
	}
	if random == 0 {
		t.Error("no random weights found")
	}
	// The class bias carries the prior.
	bias := a["/head/cls/predict/biases"]
	if len(bias) == 0 || math.Abs(float64(bias[0])+4.59512) > 1e-4 {
		t.Errorf("class bias %v, want -4.595", bias)
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGradientCheck compares the gradients of a tiny detector (float64,
// 32x32 input) with central finite differences, for input pixels and for
// weights of the backbone, the FPN and the heads.
func TestGradientCheck(t *testing.T) {
	cfg := smallConfig()
	cfg.TinyWidths = []int{2, 4, 4, 4}
	cfg.FPNChannels = 4
	cfg.HeadWidth = 4
	cfg.HeadConvs = 1
	cfg.NumAnchors = 2
	cfg.PriorProb = 0.3
	const h, w = 32, 32
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(3, 4))
	img := make([]float64, h*w*3)
	for i := range img {
		img[i] = rng.NormFloat64()
	}
	store := mlmodel.NewStore()
	nn.SetDType(store.RootScope(), dtypes.Float64)
	checked := []string{"/backbone/stem/conv1/weights", "/backbone/layer2/0/conv2/weights", "/fpn/lateral3/weights",
		"/fpn/p7/weights", "/head/cls/conv0/weights", "/head/box/predict/weights", "/backbone/layer1/0/bn1/gamma"}
	// The loss projects every output on fixed pseudo-random weights.
	lossFn := func(scope *mlmodel.Scope, x *Node) *Node {
		scope.SetTraining(x.Graph(), true)
		o := Forward(scope, cfg, x)
		var loss *Node
		for l := range o.Cls {
			for _, y := range []*Node{o.Cls[l], o.Box[l]} {
				r := Cos(MulScalar(IotaFull(x.Graph(), y.Shape()), 0.37))
				s := ReduceAllSum(Mul(y, r))
				if loss == nil {
					loss = s
				} else {
					loss = Add(loss, s)
				}
			}
		}
		return loss
	}
	gradExec := mlmodel.MustNewExec(b, store, func(scope *mlmodel.Scope, x *Node) []*Node {
		loss := lossFn(scope, x)
		nodes := []*Node{x}
		for _, p := range checked {
			v := store.GetVariable(p)
			if v == nil {
				panic("missing variable " + p)
			}
			nodes = append(nodes, v.NodeValue(x.Graph()))
		}
		return append([]*Node{loss}, Gradient(loss, nodes...)...)
	})
	lossExec := mlmodel.MustNewExec(b, store, func(scope *mlmodel.Scope, x *Node) *Node { return lossFn(scope, x) })
	imgT := func(d []float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(d, 1, h, w, 3) }
	res := gradExec.MustExec(imgT(img))
	loss := func(d []float64) float64 { return tensors.ToScalar[float64](lossExec.MustExec(imgT(d))[0]) }
	grads := make([][]float64, len(res)-1)
	for i := range grads {
		tensors.ConstFlatData(res[i+1], func(d []float64) { grads[i] = append([]float64(nil), d...) })
	}
	const eps = 1e-6
	check := func(name string, analytic, numeric float64) {
		if math.Abs(analytic-numeric) > 1e-5*math.Max(1, math.Abs(numeric)) {
			t.Errorf("%s: gradient %.8g, finite differences %.8g", name, analytic, numeric)
		}
	}
	for _, i := range []int{0, 101, 1500, 2047, 3071} {
		p, m := append([]float64(nil), img...), append([]float64(nil), img...)
		p[i] += eps
		m[i] -= eps
		check(fmt.Sprintf("pixel %d", i), grads[0][i], (loss(p)-loss(m))/(2*eps))
	}
	for vi, path := range checked {
		v := store.GetVariable(path)
		orig := v.MustValue()
		var vals []float64
		tensors.ConstFlatData(orig, func(d []float64) { vals = append(vals, d...) })
		dims := orig.Shape().Dimensions
		for _, i := range []int{0, len(vals) / 2, len(vals) - 1} {
			at := func(delta float64) float64 {
				d := append([]float64(nil), vals...)
				d[i] += delta
				if err := v.SetValue(tensors.FromFlatDataAndDimensions(d, dims...)); err != nil {
					t.Fatal(err)
				}
				return loss(img)
			}
			num := (at(eps) - at(-eps)) / (2 * eps)
			check(fmt.Sprintf("%s[%d]", path, i), grads[vi+1][i], num)
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, dims...)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainingGraph builds a training graph of the cpu preset, runs one
// forward and backward pass and checks that every trainable variable gets a
// finite gradient, not all zero.
func TestTrainingGraph(t *testing.T) {
	cfg := mustPreset(t, "cpu")
	store := mlmodel.NewStore()
	var names []string
	e := mlmodel.MustNewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) []*Node {
		scope.SetTraining(x.Graph(), true)
		o := Forward(scope, cfg, x)
		loss := detectorTestLoss(o)
		var vars []*Node
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(x.Graph()) {
				names = append(names, v.Path())
				vars = append(vars, v.NodeValue(x.Graph()))
			}
		}
		return append([]*Node{loss}, Gradient(loss, vars...)...)
	})
	rng := rand.New(rand.NewPCG(5, 6))
	out := e.MustExec(randImages(rng, 2, cfg.InputHeight, cfg.InputWidth))
	if l := tensors.ToScalar[float32](out[0]); math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
		t.Fatalf("loss %v", l)
	}
	if len(names) < 30 {
		t.Fatalf("only %d trainable variables", len(names))
	}
	for i, g := range out[1:] {
		d := flat32(g)
		nonZero := false
		for _, v := range d {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite gradient for %s", names[i])
			}
			nonZero = nonZero || v != 0
		}
		if !nonZero {
			t.Errorf("zero gradient for %s", names[i])
		}
	}
}

// detectorTestLoss is a smooth function of every output (a stand-in for the
// detection losses).
func detectorTestLoss(o Outputs) *Node {
	var loss *Node
	for l := range o.Cls {
		s := Add(ReduceAllMean(Sigmoid(o.Cls[l])), ReduceAllMean(Square(o.Box[l])))
		if loss == nil {
			loss = s
		} else {
			loss = Add(loss, s)
		}
	}
	return loss
}

func TestPresets(t *testing.T) {
	names := PresetNames()
	if strings.Join(names, ",") != "cpu,mobilenet,reference" {
		t.Errorf("PresetNames() = %v", names)
	}
	for _, n := range names {
		c := mustPreset(t, n)
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
	}
	ref := mustPreset(t, "reference")
	if ref.Backbone != BackboneResNet50 || ref.Norm != nn.NormFrozenBN || ref.FrozenStages != 1 || ref.FPNChannels != 256 ||
		ref.HeadConvs != 4 || ref.HeadWidth != 256 || ref.NumClasses != 80 || ref.NumAnchors != 9 || ref.ReLUBeforeP7 ||
		ref.InputWidth != 1344 || ref.InputHeight != 800 {
		t.Errorf("reference preset %+v", ref)
	}
	cpu := mustPreset(t, "cpu")
	cpu.TinyWidths[0] = 99
	if again := mustPreset(t, "cpu"); again.TinyWidths[0] != 16 {
		t.Error("Preset returns a shared slice")
	}
	_, err := Preset("resnet")
	if err == nil || !strings.Contains(err.Error(), "cpu, mobilenet, reference") {
		t.Errorf("unknown preset error %v, want one listing the names", err)
	}
	bad := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Backbone = "vgg" }, "backbone"},
		{func(c *Config) { c.Norm = "ln" }, "norm"},
		{func(c *Config) { c.HeadNorm = nn.NormBN }, "head_norm"},
		{func(c *Config) { c.FrozenStages = 5 }, "frozen_stages"},
		{func(c *Config) { c.TinyWidths = []int{8, 8} }, "tiny_widths"},
		{func(c *Config) { c.FPNChannels = 0 }, "fpn_channels"},
		{func(c *Config) { c.NumClasses = 0 }, "num_classes"},
		{func(c *Config) { c.HeadConvs = -1 }, "head_convs"},
		{func(c *Config) { c.PriorProb = 1 }, "prior_prob"},
		{func(c *Config) { c.InputWidth = 0 }, "input_width"},
	}
	for _, b := range bad {
		c := mustPreset(t, "cpu")
		b.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, b.want)
		}
	}
}

// TestMobileNetBackbone checks the mobilenet preset's outputs and its
// configuration rules.
func TestMobileNetBackbone(t *testing.T) {
	cfg := mustPreset(t, "mobilenet")
	cfg.InputWidth, cfg.InputHeight = 128, 128
	store := mlmodel.NewStore()
	b := backend.MustNew("")
	exec, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x *Node) []*Node {
		out := Forward(scope, cfg, x)
		return append(out.Cls, out.Box...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 1, 128, 128, 3)))
	if err != nil {
		t.Fatal(err)
	}
	for l, s := range LevelSizes(cfg, 128, 128) {
		want := []int{1, s[0] * s[1] * cfg.NumAnchors, cfg.NumClasses}
		if got := outs[l].Shape().Dimensions; !slices.Equal(got, want) {
			t.Errorf("level %d: class output %v, want %v", l, got, want)
		}
	}
	bad := cfg
	bad.Backbone = BackboneTiny
	bad.BackboneWeights = "x.tflite"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "backbone_weights") {
		t.Errorf("weights for the tiny backbone: error %v", err)
	}
	bad = cfg
	bad.FrozenStages = 9
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "[-1, 8]") {
		t.Errorf("frozen_stages 9: error %v", err)
	}
}
