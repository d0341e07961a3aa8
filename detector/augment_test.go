package detector

import (
	"context"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data/augment"
	"github.com/ghmdet/ghmdet/data/loader"
)

// TestAugmentConfig checks that the augmentation keys are off in every
// preset (the cpu and mobilenet presets keep a 1 GiB decoded-image cache and
// weight averages, the reference preset neither), reach the training loader
// when set, and that bad values are errors naming the key.
func TestAugmentConfig(t *testing.T) {
	for _, name := range Presets {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		a := c.Augment
		if a.MosaicProb != 0 || a.Zoom != [2]float64{} || a.HSVH != 0 || a.HSVS != 0 || a.HSVV != 0 || a.CloseMosaic != 0 {
			t.Errorf("preset %s turns augmentation on: %+v", name, a)
		}
		wantCache, wantEMA := int64(1<<30), 0.9999
		if name == "reference" {
			wantCache, wantEMA = 0, 0
		}
		if a.CacheBytes != wantCache || c.Optimizer.EMADecay != wantEMA {
			t.Errorf("preset %s: cache_bytes %d, ema_decay %g; want %d, %g", name, a.CacheBytes, c.Optimizer.EMADecay, wantCache, wantEMA)
		}
	}
	text := `augment:
  mosaic_prob: 0.8
  zoom: [0.5, 1.5]
  min_area_frac: 0.3
  hsv_h: 0.015
  hsv_s: 0.7
  hsv_v: 0.4
  close_mosaic: 3
  cache_bytes: 1000000
model:
  num_classes: 2
`
	cfg, err := ParseConfig("run.yaml", []byte(text), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ld, err := trainLoader(&cfg, tinyData(t, cfg.Train.BatchSize, 64, 3))
	if err != nil {
		t.Fatal(err)
	}
	lc := ld.Config()
	if want := (augment.Config{MosaicProb: 0.8, Zoom: [2]float64{0.5, 1.5}, MinAreaFrac: 0.3}); lc.Augment != want || lc.CacheBytes != 1000000 {
		t.Errorf("loader augment %+v cache %d", lc.Augment, lc.CacheBytes)
	}
	if tc := lc.Transform; tc.HSVHue != 0.015 || tc.HSVSat != 0.7 || tc.HSVVal != 0.4 {
		t.Errorf("loader transform %+v", tc)
	}
	if tc := inputTransform(&cfg, false); tc.HSVHue != 0 || tc.HSVSat != 0 || tc.HSVVal != 0 {
		t.Errorf("evaluation transform jitters HSV: %+v", tc)
	}
	it := ld.Epoch(context.Background(), 0)
	b, err := it.Next()
	it.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Records[0]; r.ResizedW != b.W || r.ResizedH != b.H {
		t.Errorf("augmented sample record %+v does not cover the %dx%d canvas", r, b.W, b.H)
	}

	tests := []struct{ yaml, key string }{
		{"mosaic_prob: 1.5", "augment.mosaic_prob"},
		{"mosaic_prob: -0.1", "augment.mosaic_prob"},
		{"zoom: [1.5, 0.5]", "augment.zoom"},
		{"zoom: [0, 1]", "augment.zoom"},
		{"min_area_frac: 1", "augment.min_area_frac"},
		{"hsv_h: -0.1", "augment.hsv_h"},
		{"hsv_s: 1.2", "augment.hsv_s"},
		{"hsv_v: 2", "augment.hsv_v"},
		{"close_mosaic: -1", "augment.close_mosaic"},
		{"cache_bytes: -5", "augment.cache_bytes"},
	}
	for _, tc := range tests {
		c, err := ParseConfig("run.yaml", []byte("augment:\n  "+tc.yaml+"\n"), "cpu")
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}

// TestEpochAugment checks which epochs close mosaic and zoom, for a plan
// that a time budget changes during the run.
func TestEpochAugment(t *testing.T) {
	closed := loader.EpochOptions{NoMosaic: true, NoZoom: true}
	tests := []struct {
		closeMosaic, epoch, total int
		want                      loader.EpochOptions
	}{
		{0, 9, 10, loader.EpochOptions{}},
		{3, 0, 10, loader.EpochOptions{}},
		{3, 6, 10, loader.EpochOptions{}},
		{3, 7, 10, closed},
		{3, 9, 10, closed},
		// The plan grew to 12 epochs: epoch 7 is open again.
		{3, 7, 12, loader.EpochOptions{}},
		{3, 9, 12, closed},
		// The plan shrank below close_mosaic: every epoch is closed.
		{5, 0, 4, closed},
	}
	for _, tc := range tests {
		if got := epochAugment(AugmentConfig{CloseMosaic: tc.closeMosaic}, tc.epoch, tc.total); got != tc.want {
			t.Errorf("close_mosaic %d, epoch %d of %d: %+v, want %+v", tc.closeMosaic, tc.epoch, tc.total, got, tc.want)
		}
	}
}
