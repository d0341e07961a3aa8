// Package inference is the part of the detector that runs a trained model:
// what running it needs of a run configuration (Spec), checkpoint lookup and
// loading, the inference graph and the Predictor (resize, network,
// post-processing, boxes mapped back to the original image).
//
// Package detector builds its training, evaluation and prediction on it, and
// package detect, for programs that only run models, uses it without the
// training loop, plotting or command-line code. A Spec is always read from
// the YAML text of a run configuration: the text a checkpoint holds, or the
// text detector.Config writes, so that both paths derive it the same way.
package inference

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/model"
)

// InputMultiple is the multiple the input canvas sides must be (the stride
// of P5).
const InputMultiple = 32

// Spec is what running a trained detector needs of its run configuration.
type Spec struct {
	// Preset names the preset the configuration started from.
	Preset string
	// Classes are the class names in the model's class order (may be empty:
	// see ClassNames).
	Classes []string
	// Model is the network.
	Model model.Config
	// LongSide and ShortSide are the keep-ratio resize applied before an
	// image is fitted into the input canvas (resize.long_side and
	// resize.short_side; zero is no limit).
	LongSide, ShortSide int
	// Mean and Std normalise RGB on the 0..255 scale (augment.mean and
	// augment.std; all-zero Std means the transform's defaults).
	Mean, Std [3]float32
	// Anchors and Coder define the anchors and the box encoding.
	Anchors box.AnchorConfig
	Coder   box.Coder
	// Test configures post-processing.
	Test box.PostProcessConfig
}

// specYAML is the part of a run configuration's YAML that a Spec reads;
// every other key (losses, optimiser, training loop) is ignored.
type specYAML struct {
	Preset  string                `yaml:"preset"`
	Classes []string              `yaml:"classes"`
	Model   model.Config          `yaml:"model"`
	Anchors box.AnchorConfig      `yaml:"anchors"`
	Coder   box.Coder             `yaml:"coder"`
	Test    box.PostProcessConfig `yaml:"test"`
	Resize  struct {
		LongSide  int `yaml:"long_side"`
		ShortSide int `yaml:"short_side"`
	} `yaml:"resize"`
	Augment struct {
		Mean [3]float32 `yaml:"mean"`
		Std  [3]float32 `yaml:"std"`
	} `yaml:"augment"`
}

// ParseSpec reads a Spec from the YAML text of a resolved run configuration
// (a run's config.yaml, or the configuration a checkpoint holds); name is
// used in errors. Keys the text lacks keep the defaults of the packages that
// define them (model.Preset of the text's preset, the box package's anchor,
// coder and post-processing defaults); resolved configurations name every
// key. The Spec is validated.
func ParseSpec(name string, text []byte) (Spec, error) {
	var head struct {
		Preset string `yaml:"preset"`
	}
	if err := yaml.Unmarshal(text, &head); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", name, err)
	}
	if head.Preset == "" {
		head.Preset = "cpu"
	}
	m, err := model.Preset(head.Preset)
	if err != nil {
		return Spec{}, fmt.Errorf("%s: preset %q: %w", name, head.Preset, err)
	}
	y := specYAML{Model: m, Anchors: box.DefaultAnchorConfig(), Coder: box.DefaultCoder(), Test: box.DefaultPostProcessConfig()}
	if err := yaml.Unmarshal(text, &y); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", name, err)
	}
	s := Spec{
		Preset: head.Preset, Classes: y.Classes, Model: y.Model,
		LongSide: y.Resize.LongSide, ShortSide: y.Resize.ShortSide,
		Mean: y.Augment.Mean, Std: y.Augment.Std,
		Anchors: y.Anchors, Coder: y.Coder, Test: y.Test,
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Validate checks the Spec and names the first bad key.
func (s *Spec) Validate() error {
	if err := s.Model.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := s.Anchors.Validate(); err != nil {
		return fmt.Errorf("anchors: %w", err)
	}
	if s.Anchors.NumPerLocation() != s.Model.NumAnchors {
		return fmt.Errorf("anchors: %d anchors per location, but model.num_anchors is %d", s.Anchors.NumPerLocation(), s.Model.NumAnchors)
	}
	if err := s.Coder.Validate(); err != nil {
		return fmt.Errorf("coder: %w", err)
	}
	if s.LongSide < 0 || s.ShortSide < 0 {
		return fmt.Errorf("resize: long_side and short_side must be >= 0, got %d and %d", s.LongSide, s.ShortSide)
	}
	if len(s.Classes) > 0 && len(s.Classes) != s.Model.NumClasses {
		return fmt.Errorf("classes: %d names but model.num_classes is %d", len(s.Classes), s.Model.NumClasses)
	}
	if s.Model.InputWidth%InputMultiple != 0 || s.Model.InputHeight%InputMultiple != 0 {
		return fmt.Errorf("model.input_width/input_height: %dx%d must be multiples of %d", s.Model.InputWidth, s.Model.InputHeight, InputMultiple)
	}
	return nil
}

// Transform returns the input transform of prediction: keep-ratio resize
// into the fixed input canvas, padding at the right and bottom,
// normalisation; no augmentation.
func (s *Spec) Transform() transform.Config {
	return transform.Config{
		CanvasW: s.Model.InputWidth, CanvasH: s.Model.InputHeight,
		LongSide: s.LongSide, ShortSide: s.ShortSide,
		Mean: s.Mean, Std: s.Std,
	}
}

// ClassName returns the name of class k (class_k when unnamed).
func (s *Spec) ClassName(k int) string {
	if k >= 0 && k < len(s.Classes) {
		return s.Classes[k]
	}
	return fmt.Sprintf("class_%d", k)
}

// ClassNames returns the names of all classes.
func (s *Spec) ClassNames() []string {
	names := make([]string, s.Model.NumClasses)
	for k := range names {
		names[k] = s.ClassName(k)
	}
	return names
}
