package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// childEnv makes the test binary run one small benchmark and print its
// result (the child side of TestRunIsolated).
const childEnv = "GHMDET_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		r, err := Run(context.Background(), name, Options{Runs: 1, Warmup: 1, Small: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		_ = json.NewEncoder(os.Stdout).Encode(r)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCheckNames(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{nil, []string{R50, R50InferNative, R50InferGraph, CPU, CPUInferNative, CPUInferGraph, GHMCvsFocal}, ""},
		{[]string{GHMCvsFocal, CPU}, []string{CPU, GHMCvsFocal}, ""},
		{[]string{CPU, CPU}, []string{CPU}, ""},
		{[]string{CPUInferGraph, "cpu-infer-native"}, []string{CPUInferNative, CPUInferGraph}, ""},
		{[]string{"cpu", "r50"}, nil, `unknown benchmark "r50" (allowed: r50-512, r50-infer-native, r50-infer-graph, cpu, cpu-infer-native, cpu-infer-graph, ghmc-vs-focal)`},
		{[]string{""}, nil, "unknown benchmark"},
	}
	for _, tc := range tests {
		got, err := CheckNames(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckNames(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("CheckNames(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tx\nVmPeak:\t  900 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n", 1234 * 1024, true},
		{"VmHWM: 0 kB\n", 0, true},
		{"VmRSS:\t 1000 kB\n", 0, false},
		{"VmHWM:\t 12 MB\n", 0, false},
		{"VmHWM:\t -5 kB\n", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseVmHWM([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseVmHWM(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPeakRSSGrows checks that touching 64 MiB raises the peak RSS. The
// peak is first reset to the current RSS (with the freed heap returned to
// the system, so the 64 MiB are not already resident): else a higher peak
// earlier in the process (another test) would hide the growth.
func TestPeakRSSGrows(t *testing.T) {
	if PeakRSS() <= 0 {
		t.Skip("peak RSS not available on this system")
	}
	if !ResetPeakRSS() {
		t.Skip("the peak RSS cannot be reset on this system (Linux 4.0 or later needed)")
	}
	before := PeakRSS()
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after := PeakRSS()
	if after < before+48<<20 {
		t.Errorf("peak RSS %d after touching 64 MiB, was %d", after, before)
	}
	_ = buf[len(buf)-1]
}

func TestParseLoadAvg(t *testing.T) {
	tests := []struct {
		in   string
		want []float64
	}{
		{"0.52 1.03 2.50 2/345 6789\n", []float64{0.52, 1.03, 2.5}},
		{"0.52 1.03", nil},
		{"a b c", nil},
	}
	for _, tc := range tests {
		if got := parseLoadAvg(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("parseLoadAvg(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: X\nmodel name\t: Some CPU @ 3.0GHz\nprocessor\t: 1\nmodel name\t: Other\n"
	if got := cpuModel(in); got != "Some CPU @ 3.0GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("processor: 0\n"); got != "" {
		t.Errorf("cpuModel without model name = %q", got)
	}
}

func TestRatios(t *testing.T) {
	g := Report{
		CPU:         {TrainStepS: 0.5, InferS: 0.1, PeakRSSBytes: 300},
		GHMCvsFocal: {GHMCS: 0.3, FocalS: 0.2, PeakRSSBytes: 100},
		R50:         {TrainStepS: 4},
	}
	p := Report{
		CPU:         {TrainStepS: 0.25, InferS: 0.05, PeakRSSBytes: 600},
		GHMCvsFocal: {GHMCS: 0.6, FocalS: 0.2},
	}
	got := Ratios(g, p)
	want := map[string]map[string]float64{
		CPU:         {"train_step_s": 2, "infer_s": 2, "peak_rss_bytes": 0.5},
		GHMCvsFocal: {"ghmc_s": 0.5, "focal_s": 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ratios = %v, want %v", got, want)
	}
}

func TestCompareAlternatesSides(t *testing.T) {
	var calls []string
	side := func(label string, step float64) RunFunc {
		return func(_ context.Context, name string) (Result, error) {
			calls = append(calls, label+":"+name)
			return Result{TrainStepS: step, InferS: step / 2}, nil
		}
	}
	c, err := Compare(context.Background(), []string{R50, CPU}, side("g", 3), side("p", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"g:" + R50, "p:" + R50, "g:" + CPU, "p:" + CPU}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls %v, want %v", calls, wantCalls)
	}
	if r := c.Ratio[CPU]["train_step_s"]; r != 3 {
		t.Errorf("cpu train ratio %v, want 3", r)
	}
	var buf bytes.Buffer
	if err := WriteComparisonText(&buf, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "3.00") || !strings.Contains(buf.String(), R50) {
		t.Errorf("comparison text lacks the ratio or a name:\n%s", buf.String())
	}

	fail := func(context.Context, string) (Result, error) { return Result{}, fmt.Errorf("boom") }
	if _, err := Compare(context.Background(), []string{CPU}, side("g", 1), fail, nil); err == nil || !strings.Contains(err.Error(), "pytorch: boom") {
		t.Errorf("Compare with a failing side: %v", err)
	}
}

func TestSyntheticBatch(t *testing.T) {
	cfg, err := CPUConfig()
	if err != nil {
		t.Fatal(err)
	}
	b := SyntheticBatch(cfg, 7)
	h, w := cfg.Model.InputHeight, cfg.Model.InputWidth
	if b.B != cfg.Train.BatchSize || b.H != h || b.W != w || len(b.Images) != b.B*h*w*3 {
		t.Fatalf("batch %d x %d x %d with %d values, want %d x %d x %d", b.B, b.H, b.W, len(b.Images), cfg.Train.BatchSize, h, w)
	}
	for i, tg := range b.Targets {
		if len(tg.Boxes) != BoxesPerImage || len(tg.Classes) != BoxesPerImage || len(tg.Ignore) != BoxesPerImage {
			t.Fatalf("image %d: %d boxes, want %d", i, len(tg.Boxes), BoxesPerImage)
		}
		for j, bx := range tg.Boxes {
			if bx[0] < 0 || bx[1] < 0 || bx[2] > float32(w) || bx[3] > float32(h) || bx[2]-bx[0] < 16 || bx[3]-bx[1] < 16 {
				t.Errorf("image %d box %d = %v outside the image or under 16 px", i, j, bx)
			}
			if c := tg.Classes[j]; c < 0 || c >= cfg.Model.NumClasses {
				t.Errorf("image %d box %d class %d", i, j, c)
			}
		}
		if r := b.Records[i]; r.Inverse([4]float64{1, 2, 3, 4}) != [4]float64{1, 2, 3, 4} {
			t.Errorf("image %d record is not the identity: %+v", i, r)
		}
	}
	again := SyntheticBatch(cfg, 7)
	if !slices.Equal(b.Images, again.Images) || !reflect.DeepEqual(b.Targets, again.Targets) {
		t.Error("same seed, different batch")
	}
	if other := SyntheticBatch(cfg, 8); slices.Equal(b.Images, other.Images) {
		t.Error("different seeds, same images")
	}
}

func TestR50Config(t *testing.T) {
	cfg, err := R50Config()
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Model
	if m.Backbone != "resnet50" || m.FPNChannels != 256 || m.HeadConvs != 4 || m.HeadWidth != 256 ||
		m.NumClasses != 80 || m.InputWidth != 512 || m.InputHeight != 512 || cfg.Train.BatchSize != 1 || cfg.Loss.GroupSize != 1 {
		t.Errorf("r50-512 configuration: %+v, batch %d, group %d", m, cfg.Train.BatchSize, cfg.Loss.GroupSize)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

// TestDetectorBenchSmall runs the real training step and predictor of the
// cpu preset at 128 x 128 once.
func TestDetectorBenchSmall(t *testing.T) {
	r, err := Run(context.Background(), CPU, Options{Runs: 2, Warmup: 1, Small: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainStepS <= 0 || r.InferS <= 0 || r.SetupS <= 0 {
		t.Errorf("non-positive times: %+v", r)
	}
	if r.Batch != 2 || r.Input != "128x128" || r.Runs != 2 || r.WarmupRuns != 1 {
		t.Errorf("result describes %d x %s, %d runs + %d", r.Batch, r.Input, r.Runs, r.WarmupRuns)
	}
	if len(r.Samples["train_step"]) != 2 || len(r.Samples["infer"]) != 2 {
		t.Errorf("samples %v", r.Samples)
	}
	if got := r.TrainImagesPerS * r.TrainStepS; math.Abs(got-2) > 1e-9 {
		t.Errorf("images/s x step time = %v, want the batch size 2", got)
	}
	if PeakRSS() > 0 && r.PeakRSSBytes <= 0 {
		t.Errorf("peak RSS %d", r.PeakRSSBytes)
	}
}

func TestRunIsolated(t *testing.T) {
	t.Setenv(childEnv, CPU)
	r, err := RunIsolated(context.Background(), []string{os.Args[0], "-test.run=^$"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainStepS <= 0 || r.Input != "128x128" {
		t.Errorf("child result %+v", r)
	}
	if PeakRSS() > 0 && r.PeakRSSBytes <= 0 {
		t.Errorf("child peak RSS %d", r.PeakRSSBytes)
	}

	t.Setenv(childEnv, "no-such-benchmark")
	_, err = RunIsolated(context.Background(), []string{os.Args[0], "-test.run=^$"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown benchmark "no-such-benchmark"`) {
		t.Errorf("failing child: error %v should carry its message", err)
	}
}

func TestReportJSONKeys(t *testing.T) {
	rep := Report{
		CPU:         {TrainStepS: 1, InferS: 0.5, PeakRSSBytes: 10, Runs: 1},
		GHMCvsFocal: {GHMCS: 0.2, FocalS: 0.1, PeakRSSBytes: 10, Runs: 1},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string][]string{
		CPU:         {"train_step_s", "infer_s", "peak_rss_bytes"},
		GHMCvsFocal: {"ghmc_s", "focal_s", "peak_rss_bytes"},
	} {
		for _, k := range keys {
			if _, ok := got[name][k]; !ok {
				t.Errorf("%s lacks %q: %v", name, k, got[name])
			}
		}
	}
	if _, ok := got[GHMCvsFocal]["train_step_s"]; ok {
		t.Error("the loss benchmark should not report a training step")
	}
	buf.Reset()
	if err := WriteText(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "train_step_s") || !strings.Contains(buf.String(), "ghmc_s") {
		t.Errorf("text output:\n%s", buf.String())
	}
}

// TestPyTorchRunner runs the embedded script's small cpu benchmark where
// Debian's python3-torch is installed.
func TestPyTorchRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	py := &PyTorch{}
	defer py.Close()
	v, err := py.Versions(context.Background())
	if err != nil {
		t.Skipf("no PyTorch: %v", err)
	}
	if v["torch"] == nil || v["torchvision"] == nil {
		t.Errorf("versions %v", v)
	}
	r, err := py.Runner(Options{Runs: 1, Warmup: 1, Small: true})(context.Background(), CPU)
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainStepS <= 0 || r.InferS <= 0 || r.PeakRSSBytes <= 0 || r.Input != "128x128" || r.Batch != 2 {
		t.Errorf("pytorch cpu result %+v", r)
	}
	if _, err := py.Runner(Options{Runs: 1})(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "unknown benchmark") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestInferBenchmarks runs the inference-only benchmarks at the small size
// on both engines and checks their results, the engine they report and the
// PyTorch benchmark each is compared with.
func TestInferBenchmarks(t *testing.T) {
	cases := []struct {
		name, engine, pytorch string
	}{
		{CPUInferNative, "native", "cpu-infer"},
		{CPUInferGraph, "graph", "cpu-infer"},
		{R50InferNative, "native", "r50-infer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Run(context.Background(), c.name, Options{Runs: 1, Warmup: 1, Small: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.InferS <= 0 || r.TrainStepS != 0 || r.Engine != c.engine || r.Input != "128x128" || len(r.Samples["infer"]) != 1 {
				t.Errorf("result %+v", r)
			}
			if got := PyTorchName(c.name); got != c.pytorch {
				t.Errorf("PyTorchName(%s) = %s, want %s", c.name, got, c.pytorch)
			}
		})
	}
	if got := PyTorchName(CPU); got != CPU {
		t.Errorf("PyTorchName(cpu) = %s", got)
	}
}

// TestInitialStore checks the initial weights of the inference benchmarks:
// every variable of the network with its shape, the class prior in the
// class biases and identity normalisations.
func TestInitialStore(t *testing.T) {
	cfg, err := CPUConfig()
	if err != nil {
		t.Fatal(err)
	}
	store, err := InitialStore(cfg.Model, 1)
	if err != nil {
		t.Fatal(err)
	}
	arch := model.MustDescribe(cfg.Model)
	want := model.VariableShapes(append(append(arch.Ops, arch.Head.Cls...), arch.Head.Box...))
	if store.NumVariables() != len(want) {
		t.Errorf("%d variables, want %d", store.NumVariables(), len(want))
	}
	value := func(path string) []float32 {
		v := store.GetVariable("/detector/" + path)
		if v == nil {
			t.Fatalf("no variable %s", path)
		}
		d, err := tensors.CopyFlatData[float32](v.MustValue())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	prior := float32(nn.PriorBias(cfg.Model.PriorProb))
	if b := value("head/cls/predict/biases"); b[0] != prior || b[len(b)-1] != prior {
		t.Errorf("class biases %v, want %g", b[:3], prior)
	}
	if g := value("backbone/stem/bn1/gamma"); g[0] != 1 {
		t.Errorf("gamma %v", g[:3])
	}
	w := value("backbone/stem/conv1/weights")
	var sq float64
	for _, v := range w {
		sq += float64(v) * float64(v)
	}
	if std := math.Sqrt(sq / float64(len(w))); std < 0.05 || std > 0.2 {
		t.Errorf("stem weights std %.3f, want about sqrt(2/(3*3*16)) = 0.118", std)
	}
}
