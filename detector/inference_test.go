package detector

import (
	"fmt"
	"testing"

	"github.com/ghmdet/ghmdet/internal/inference"
)

// TestInferenceSpecMatchesConfig checks that the inference Spec read from a
// configuration's YAML (as package detect reads a checkpoint's) is the
// configuration's own network, anchors, coder, post-processing, classes and
// input transform, for every preset and a customised configuration.
func TestInferenceSpecMatchesConfig(t *testing.T) {
	custom := tinyConfig(t, 128)
	custom.Classes = []string{"a", "b"}
	custom.Resize = ResizeConfig{LongSide: 200, ShortSide: 100}
	custom.Augment.Mean = [3]float32{1, 2, 3}
	custom.Augment.Std = [3]float32{4, 5, 6}
	custom.Test.ScoreThresh, custom.Test.MaxDetections, custom.Test.NMSIoU = 0.2, 7, 0.6
	custom.Anchors.OctaveBaseScale = 3
	custom.Coder.Stds = [4]float32{0.1, 0.1, 0.2, 0.2}
	configs := map[string]Config{"custom": custom}
	for _, name := range Presets {
		cfg, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		configs[name] = cfg
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			spec, err := cfg.inferenceSpec()
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				what      string
				got, want any
			}{
				{"preset", spec.Preset, cfg.Preset},
				{"classes", spec.Classes, cfg.Classes},
				{"class names", spec.ClassNames(), cfg.ClassNames()},
				{"model", spec.Model, cfg.Model},
				{"anchors", spec.Anchors, cfg.Anchors},
				{"coder", spec.Coder, cfg.Coder},
				{"test", spec.Test, cfg.Test},
				{"transform", spec.Transform(), inputTransform(&cfg, false)},
			}
			for _, c := range checks {
				// Printed, so that a nil and an empty list (as YAML reads
				// "[]") compare equal; floats print exactly.
				if fmt.Sprintf("%+v", c.got) != fmt.Sprintf("%+v", c.want) {
					t.Errorf("%s: spec %+v, configuration %+v", c.what, c.got, c.want)
				}
			}
		})
	}
	if WeightsDir != inference.WeightsDir || BestCkpt != inference.BestCkpt || LastCkpt != inference.LastCkpt || InputMultiple != inference.InputMultiple {
		t.Error("the run directory's checkpoint names or the input multiple differ between detector and inference")
	}
}
