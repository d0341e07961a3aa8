package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/model"
)

// benchEngine prepares the engine of preset at h x w (randomised weights).
func benchEngine(b *testing.B, preset string, classes, h, w int) (*Engine, []float32) {
	return benchEngineOpts(b, preset, classes, h, w, Options{})
}

// benchEngineOpts is benchEngine with engine options.
func benchEngineOpts(b *testing.B, preset string, classes, h, w int, opts Options) (*Engine, []float32) {
	cfg, err := model.Preset(preset)
	if err != nil {
		b.Fatal(err)
	}
	cfg.NumClasses = classes
	arch := model.MustDescribe(cfg)
	ops := append(append(append([]model.Op{}, arch.Ops...), arch.Head.Cls...), arch.Head.Box...)
	rng := rand.New(rand.NewPCG(1, 2))
	vars := map[string][]float32{}
	shapes := model.VariableShapes(ops)
	get := func(name string) ([]float32, []int, error) {
		s := shapes[name]
		if _, ok := vars[name]; !ok {
			n := 1
			for _, d := range s {
				n *= d
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(0.05*rng.NormFloat64()) + 0.5*float32(len(s)-1)/4
			}
			vars[name] = v
		}
		return vars[name], s, nil
	}
	e, err := New(cfg, get, opts)
	if err != nil {
		b.Fatal(err)
	}
	img := make([]float32, 4*h*w*3)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	return e, img
}

// BenchmarkCPUPreset is the cpu preset at 256 x 256, batch 4 (the
// inference benchmark of "ghmdet bench").
func BenchmarkCPUPreset(b *testing.B) {
	e, img := benchEngine(b, "cpu", 3, 256, 256)
	var out Output
	for b.Loop() {
		if err := e.Forward(img, 4, 256, 256, true, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResNet50 is the reference network at 512 x 512, batch 1.
func BenchmarkResNet50(b *testing.B) {
	e, img := benchEngine(b, "reference", 80, 512, 512)
	var out Output
	for b.Loop() {
		if err := e.Forward(img[:512*512*3], 1, 512, 512, true, &out); err != nil {
			b.Fatal(err)
		}
	}
}
