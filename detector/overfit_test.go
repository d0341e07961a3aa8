package detector

import (
	"context"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// TestOverfitTinyDataset trains a small detector with GHM-C + GHM-R on a
// handful of generated images (2 classes, 1-3 objects each) and requires it
// to detect those same images almost perfectly: AP50 >= 0.95.
func TestOverfitTinyDataset(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a detector for about a minute")
	}
	ds := tinyData(t, 8, 128, 5)
	cfg := tinyConfig(t, 128)
	cfg.Augment.FlipProb = 0
	cfg.Train.Epochs = 120
	cfg.Train.LogEvery = 20
	cfg.Optimizer.Name = "adamw"
	cfg.Optimizer.LR = 1e-3
	cfg.Optimizer.WeightDecay = 0
	cfg.Schedule.WarmupIters = 20
	cfg.Schedule.Steps = []int{100}
	b := backend.MustNew("")
	start := time.Now()
	sum, err := Run(context.Background(), cfg, RunOptions{Dir: t.TempDir(), Train: ds, Val: ds, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d steps in %s: AP %.4f AP50 %.4f", sum.Steps, time.Since(start).Round(time.Second), sum.Final.Stats[0], sum.Final.Stats[1])
	if sum.Final.Stats[1] < 0.95 {
		t.Fatalf("AP50 on the training images = %.4f after %d steps, want >= 0.95", sum.Final.Stats[1], sum.Steps)
	}
}
