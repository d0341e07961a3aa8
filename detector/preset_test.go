package detector

import (
	"context"
	"math"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// TestPresetsValidateAndTrain validates every preset as shipped with the
// detector's own validation, then runs one training step of each at a
// reduced input size (a canvas that is a multiple of 32 but not of 128, as
// the reference's 1344 x 800, so that P6 and P7 round up).
func TestPresetsValidateAndTrain(t *testing.T) {
	ds := tinyData(t, 2, 160, 11)
	b := backend.MustNew("")
	for _, name := range Presets {
		t.Run(name, func(t *testing.T) {
			cfg, err := Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("preset %s as shipped: %v", name, err)
			}
			cfg.Model.NumClasses = 2
			cfg.Model.InputWidth, cfg.Model.InputHeight = 224, 160
			if cfg.Resize.LongSide > 0 {
				cfg.Resize = ResizeConfig{LongSide: 220, ShortSide: 150}
			}
			cfg.Train.BatchSize = 2
			if err := cfg.Validate(); err != nil {
				t.Fatalf("reduced preset %s: %v", name, err)
			}
			tr, err := NewTrainer(b, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ld, err := trainLoader(&cfg, ds)
			if err != nil {
				t.Fatal(err)
			}
			it := ld.Epoch(context.Background(), 0)
			defer it.Close()
			batch, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if name == "reference" {
				// Resized to fit 220 x 150 keeping the ratio (the images
				// are square): 150 x 150 on the 224 x 160 canvas.
				if r := batch.Records[0]; r.ResizedW != 150 || r.ResizedH != 150 || r.CanvasW != 224 || r.CanvasH != 160 {
					t.Fatalf("reference resize: %+v", r)
				}
			}
			res, err := tr.StepBatch(batch, 1, 0, 100, cfg.Train.Epochs)
			if err != nil {
				t.Fatal(err)
			}
			if !(res.Loss > 0) || math.IsInf(res.Loss, 0) {
				t.Fatalf("loss %v", res.Loss)
			}
			// The first update's rate: the base rate (scaled linearly to
			// the batch where the preset says so) times the warm-up start.
			want := cfg.Optimizer.LR * cfg.Schedule.WarmupRatio
			if name == "reference" {
				want = 0.01 * 2 / 16 / 3
			}
			if math.Abs(res.LR-want) > 1e-12 {
				t.Fatalf("first learning rate %v, want %v", res.LR, want)
			}
		})
	}
}
