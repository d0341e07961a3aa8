package mobilenet

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/testutil"
	"github.com/ghmdet/ghmdet/tflite"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

const modelFile = "mobilenet_v2_1.0_224_quant.tflite"

func TestClassifierPretrained(t *testing.T) {
	dir := testutil.SharedDir(t, "data", "mobilenet")
	labels, err := ReadLabels(filepath.Join(dir, "imagenet_labels.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != NumClasses || labels[0] != "background" {
		t.Fatalf("%d labels, first %q", len(labels), labels[0])
	}
	store := mlmodel.NewStore()
	start := time.Now()
	if err := LoadTFLite(filepath.Join(dir, modelFile), store, "mobilenet"); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d variables, %d parameters in %v", store.NumVariables(), store.NumParameters(), time.Since(start))
	// Every quantised constant of the file is a weight or bias in the store.
	m, err := tflite.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		t.Fatal(err)
	}
	constants, nconst := 0, 0
	for _, tn := range m.Subgraphs[0].Tensors {
		if tn.Quantization != nil && len(m.Buffers[tn.Buffer]) > 0 {
			n, _ := tn.NumElements()
			constants += n
			nconst++
		}
	}
	if store.NumParameters() != constants || store.NumVariables() != nconst {
		t.Errorf("%d variables with %d parameters; the file has %d quantised constants with %d values",
			store.NumVariables(), store.NumParameters(), nconst, constants)
	}

	images := []struct{ file, want string }{
		{"cat.bmp", "Egyptian cat"},
		{"grace_hopper.bmp", "military uniform"},
	}
	batch := make([]float32, 0, len(images)*InputSize*InputSize*3)
	for _, im := range images {
		img, err := imageio.DecodeFile(filepath.Join(dir, im.file))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, Preprocess(img, InputSize)...)
	}
	exec, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) *Node {
		return Softmax(Classifier(scope.In("mobilenet"), x), -1)
	})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(batch, len(images), InputSize, InputSize, 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("classifier on %d images %dx%d: %v (graph building, compilation and run)", len(images), InputSize, InputSize, time.Since(start))
	probs := out[0].Value().([][]float32)
	for i, im := range images {
		var sum float64
		for _, p := range probs[i] {
			sum += float64(p)
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("%s: probabilities sum to %g", im.file, sum)
		}
		top := TopIndices(probs[i], 5)
		var lines []string
		for _, k := range top {
			lines = append(lines, fmt.Sprintf("%d %q %.4f", k, labels[k], probs[i][k]))
		}
		t.Logf("%s top-5:\n  %s", im.file, strings.Join(lines, "\n  "))
		if labels[top[0]] != im.want {
			t.Errorf("%s: top-1 is %q (%.4f), want %q", im.file, labels[top[0]], probs[i][top[0]], im.want)
		}
	}
}

func TestBackboneTaps(t *testing.T) {
	b := backend.MustNew("")
	tests := []struct {
		name   string
		cfg    Config
		size   int
		c3, c5 [4]int
		c4     [4]int
	}{
		{"256 C5 last conv", DefaultConfig(), 256, [4]int{1, 32, 32, 32}, [4]int{1, 8, 8, 1280}, [4]int{1, 16, 16, 96}},
		{"256 C5 block 320", Config{FrozenStages: -1, C5: C5Block320}, 256, [4]int{1, 32, 32, 32}, [4]int{1, 8, 8, 320}, [4]int{1, 16, 16, 96}},
		// Sizes that are not multiples of 32 ceil-divide (SAME padding).
		{"200 ceil", Config{FrozenStages: -1, C5: C5Block320}, 200, [4]int{1, 25, 25, 32}, [4]int{1, 7, 7, 320}, [4]int{1, 13, 13, 96}},
	}
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := mlmodel.NewStore()
			var got [3][4]int
			g := NewGraph(b, "taps")
			x := Parameter(g, "x", shapeOf(1, tc.size, tc.size, 3))
			c3, c4, c5 := Backbone(store.RootScope().In("backbone"), x, tc.cfg)
			for i, n := range []*Node{c3, c4, c5} {
				copy(got[i][:], n.Shape().Dimensions)
			}
			if got[0] != tc.c3 || got[1] != tc.c4 || got[2] != tc.c5 {
				t.Errorf("taps %v, want %v %v %v", got, tc.c3, tc.c4, tc.c5)
			}
			w3, w4, w5 := tc.cfg.Channels()
			if w3 != tc.c3[3] || w4 != tc.c4[3] || w5 != tc.c5[3] {
				t.Errorf("Channels() = %d %d %d", w3, w4, w5)
			}
			if ti > 0 {
				return
			}
			// Run the first case once (random weights): finite outputs.
			exec, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x *Node) []*Node {
				c3, c4, c5 := Backbone(scope.In("backbone"), x, tc.cfg)
				return []*Node{ReduceAllSum(c3), ReduceAllSum(c4), ReduceAllSum(c5)}
			})
			if err != nil {
				t.Fatal(err)
			}
			img := make([]float32, tc.size*tc.size*3)
			for i := range img {
				img[i] = float32(i%255)/128 - 1
			}
			out, err := exec.Call(tensors.FromFlatDataAndDimensions(img, 1, tc.size, tc.size, 3))
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range out {
				if v := o.Value().(float32); math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Errorf("tap %d sums to %g", i, v)
				}
			}
		})
	}
}

func TestFrozenStages(t *testing.T) {
	b := backend.MustNew("")
	for _, frozen := range []int{-1, 0, 2, 8} {
		store := mlmodel.NewStore()
		g := NewGraph(b, "frozen")
		x := Parameter(g, "x", shapeOf(1, 64, 64, 3))
		Backbone(store.RootScope().In("bb"), x, Config{FrozenStages: frozen})
		for _, blk := range Blocks() {
			want := blk.Stage+1 > frozen
			for v := range store.Scope("/bb/" + BlockScope(blk.Index)).IterVariables() {
				if v.Trainable != want {
					t.Errorf("frozen stages %d: %s trainable %v, want %v", frozen, v.Path(), v.Trainable, want)
				}
			}
		}
		for _, s := range []struct {
			scope string
			want  bool
		}{{StemScope, frozen < 0}, {LastScope, frozen <= len(Stages)}} {
			n := 0
			for v := range store.Scope("/bb/" + s.scope).IterVariables() {
				n++
				if v.Trainable != s.want {
					t.Errorf("frozen stages %d: %s trainable %v, want %v", frozen, v.Path(), v.Trainable, s.want)
				}
			}
			if n != 2 {
				t.Errorf("%d variables under %s", n, s.scope)
			}
		}
	}
	if err := (Config{FrozenStages: 9}).Validate(); err == nil {
		t.Error("FrozenStages 9 accepted")
	}
}

// TestLoadMatchesStructure loads into a store whose variables the graph
// then reuses (no new variable is created), and checks the errors for
// files that do not match the network.
func TestLoadMatchesStructure(t *testing.T) {
	dir := testutil.SharedDir(t, "data", "mobilenet")
	path := filepath.Join(dir, modelFile)
	m, err := tflite.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	store := mlmodel.NewStore()
	if err := Load(m, store, "/net"); err != nil {
		t.Fatal(err)
	}
	n := store.NumVariables()
	g := NewGraph(backend.MustNew(""), "reuse")
	Classifier(store.RootScope().In("net"), Parameter(g, "x", shapeOf(1, 32, 32, 3)))
	if store.NumVariables() != n {
		t.Errorf("the classifier created %d variables beyond the %d loaded", store.NumVariables()-n, n)
	}
	// Loading again sets the existing variables.
	if err := Load(m, store, "/net"); err != nil {
		t.Fatal(err)
	}
	// The stem weights: OHWI in the file, HWIO in the store.
	sg := &m.Subgraphs[0]
	wt := &sg.Tensors[sg.Operators[0].Inputs[1]]
	raw, err := m.Dequantize(wt)
	if err != nil {
		t.Fatal(err)
	}
	v := store.GetVariable("/net/Conv/weights").MustValue().Value().([][][][]float32)
	for _, idx := range [][4]int{{0, 0, 0, 0}, {5, 2, 1, 0}, {31, 2, 2, 2}, {17, 1, 0, 2}} {
		o, y, x, c := idx[0], idx[1], idx[2], idx[3]
		if got, want := v[y][x][c][o], raw[((o*3+y)*3+x)*3+c]; got != want {
			t.Errorf("HWIO[%d][%d][%d][%d] = %g, OHWI value %g", y, x, c, o, got, want)
		}
	}

	// Structural errors, on copies of the model.
	mutate := func(f func(sg *tflite.Subgraph)) *tflite.Model {
		c := *m
		c.Subgraphs = []tflite.Subgraph{m.Subgraphs[0]}
		c.Subgraphs[0].Tensors = append([]tflite.Tensor(nil), m.Subgraphs[0].Tensors...)
		c.Subgraphs[0].Operators = append([]tflite.Operator(nil), m.Subgraphs[0].Operators...)
		f(&c.Subgraphs[0])
		return &c
	}
	// The weights of the third operator (expanded_conv/project, [16,1,1,32]).
	projW := sg.Operators[2].Inputs[1]
	cases := []struct {
		name  string
		model *tflite.Model
		want  []string
	}{
		{"weight shape", mutate(func(sg *tflite.Subgraph) {
			sg.Tensors[projW].Shape = []int32{16, 1, 1, 16}
		}), []string{"expanded_conv/project", sg.Tensors[projW].Name, "[16 1 1 16]", "[16 1 1 32]"}},
		{"stride", mutate(func(sg *tflite.Subgraph) {
			o := *sg.Operators[0].Options.(*tflite.Conv2DOptions)
			o.StrideH, o.StrideW = 1, 1
			sg.Operators[0].Options = &o
		}), []string{"operator 0", "Conv", "stride 1, want 2"}},
		{"activation", mutate(func(sg *tflite.Subgraph) {
			o := *sg.Operators[1].Options.(*tflite.DepthwiseConv2DOptions)
			o.Activation = tflite.ActNone
			sg.Operators[1].Options = &o
		}), []string{"expanded_conv/depthwise", "activation NONE, want RELU6"}},
		{"data flow", mutate(func(sg *tflite.Subgraph) {
			sg.Operators[3].Inputs = []int32{sg.Operators[1].Outputs[0], sg.Operators[3].Inputs[1], sg.Operators[3].Inputs[2]}
		}), []string{"expanded_conv_1/expand", "not the previous layer's output"}},
		{"missing residual", mutate(func(sg *tflite.Subgraph) {
			sg.Operators = append(sg.Operators[:9:9], sg.Operators[10:]...)
		}), []string{"expanded_conv_2/project", "residual ADD"}},
		{"truncated graph", mutate(func(sg *tflite.Subgraph) {
			sg.Operators = sg.Operators[:20]
		}), []string{"graph ends after 20 operators"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Load(tc.model, mlmodel.NewStore(), "net")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A store holding a variable of another shape is left alone.
	other := mlmodel.NewStore()
	if _, err := other.CreateVariable("/net/Conv/weights", tensors.FromShape(shapeOf(3, 3, 3, 16))); err != nil {
		t.Fatal(err)
	}
	if err := Load(m, other, "net"); err == nil || !strings.Contains(err.Error(), "/net/Conv/weights") {
		t.Errorf("shape clash: %v", err)
	}
}

func TestLoadTFLiteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := LoadTFLite(filepath.Join(dir, "missing.tflite"), mlmodel.NewStore(), "x"); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestOHWIToHWIO(t *testing.T) {
	// o=2, h=1, w=2, i=3: value = 100*o + 10*x + c.
	var w []float32
	for o := range 2 {
		for x := range 2 {
			for c := range 3 {
				w = append(w, float32(100*o+10*x+c))
			}
		}
	}
	got := ohwiToHWIO(w, 2, 1, 2, 3)
	for x := range 2 {
		for c := range 3 {
			for o := range 2 {
				if v := got[(x*3+c)*2+o]; v != float32(100*o+10*x+c) {
					t.Fatalf("HWIO[0][%d][%d][%d] = %g", x, c, o, v)
				}
			}
		}
	}
}

func TestResizeAndPreprocess(t *testing.T) {
	// A 4x2 image: left half black, right half white.
	img := imageio.NewRGB(4, 2)
	for y := range 2 {
		for x := 2; x < 4; x++ {
			img.Set(x, y, 255, 255, 255)
		}
	}
	same := ResizeBilinear(img, 4, 2)
	for i, v := range same {
		if v != float32(img.Pix[i]) {
			t.Fatalf("identity resize changed pixel %d: %g", i, v)
		}
	}
	half := ResizeBilinear(img, 2, 1) // centres at x=0.5 and 2.5: 0 and 255
	if half[0] != 0 || half[3] != 255 {
		t.Errorf("downscale: %v", half)
	}
	// Output x samples input (x+0.5)/2-0.5: x=2 -> 0.75 (between two black
	// pixels), x=3 -> 1.25 (a quarter of the way to white), x=4 -> 1.75.
	up := ResizeBilinear(img, 8, 2)
	if up[2*3] != 0 || up[3*3] != 0.25*255 || up[4*3] != 0.75*255 || up[7*3] != 255 {
		t.Errorf("upscale row: %v", up[:24])
	}
	p := Preprocess(img, 2)
	if p[0] != -1 || math.Abs(float64(p[3])-127.0/128) > 1e-6 {
		t.Errorf("preprocess: %v", p)
	}
	if got := TopIndices([]float32{0.1, 0.5, 0.2, 0.5}, 3); got[0] != 1 || got[1] != 3 || got[2] != 2 {
		t.Errorf("TopIndices = %v", got)
	}
}
