// Package detector assembles the RetinaNet-style detector from its parts:
// the network (package model), anchors, targets and post-processing
// (package box), the losses (package loss), the optimiser and checkpoints
// (package train), the data pipeline (package data/...) and the evaluator
// (package eval). It provides the run configuration, the training loop, the
// predictor and model evaluation.
package detector

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/internal/strictyaml"
	"github.com/ghmdet/ghmdet/loss"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/train"
)

// Classification and regression loss names (LossConfig.Cls, LossConfig.Reg).
const (
	ClsGHMC  = "ghmc"
	ClsFocal = "focal"
	ClsCE    = "ce"
	ClsOHEM  = "ohem"

	RegGHMR     = "ghmr"
	RegSmoothL1 = "smooth_l1"
	RegL1       = "l1"
	RegASL1     = "asl1"
)

// ClsLosses and RegLosses list the allowed loss names.
var (
	ClsLosses = []string{ClsGHMC, ClsFocal, ClsCE, ClsOHEM}
	RegLosses = []string{RegGHMR, RegSmoothL1, RegL1, RegASL1}
)

// Config is a complete run configuration: every model, data, loss and
// optimiser setting. A preset fills it; a YAML file and command-line flags
// override any field; the resolved configuration is saved with each run.
type Config struct {
	// Preset names the preset the configuration started from.
	Preset string `yaml:"preset"`
	// Seed drives weight initialisation, data order and augmentation.
	Seed int64 `yaml:"seed"`
	// Classes are the class names of the training data, in the model's
	// class order, and CategoryIDs the dataset's ids of those classes
	// (filled from the training data when empty).
	Classes     []string `yaml:"classes"`
	CategoryIDs []int    `yaml:"category_ids"`
	// Model is the network (backbone, FPN, heads, input size).
	Model model.Config `yaml:"model"`
	// Resize is the keep-ratio resize applied to every image before it is
	// placed on the input canvas (model.input_width x input_height) and
	// padded at the right and bottom.
	Resize ResizeConfig `yaml:"resize"`
	// Anchors, Assign and Coder define the anchors, the anchor-to-box
	// assignment and the box encoding.
	Anchors box.AnchorConfig `yaml:"anchors"`
	Assign  box.AssignConfig `yaml:"assign"`
	Coder   box.Coder        `yaml:"coder"`
	// Loss selects and configures the classification and box losses.
	Loss LossConfig `yaml:"loss"`
	// Optimizer and Schedule configure the updates and the learning rate.
	Optimizer train.OptimizerConfig `yaml:"optimizer"`
	Schedule  train.ScheduleConfig  `yaml:"schedule"`
	// Augment configures training-time augmentation.
	Augment AugmentConfig `yaml:"augment"`
	// Train configures the training loop.
	Train TrainConfig `yaml:"train"`
	// Test configures post-processing at evaluation and prediction time.
	Test box.PostProcessConfig `yaml:"test"`
}

// LossConfig selects the losses and their parameters.
type LossConfig struct {
	// Cls is the classification loss: "ghmc" (default), "focal", "ce" or
	// "ohem".
	Cls string `yaml:"cls"`
	// Reg is the box regression loss: "ghmr" (default), "smooth_l1", "l1"
	// or "asl1".
	Reg string `yaml:"reg"`
	// GroupSize is the number of images per loss call (the reference ran 2
	// images per GPU and called the losses per level on each GPU's images):
	// the batch is split into groups of GroupSize images, the losses are
	// called once per pyramid level and group (sharing one GHM momentum
	// state), and the group losses are averaged. Default 2.
	GroupSize int `yaml:"group_size"`
	// GHM-C options (defaults: 30 bins, momentum 0.75, weight 1).
	GHMCBins      int     `yaml:"ghmc_bins"`
	GHMCMomentum  float64 `yaml:"ghmc_momentum"`
	GHMCWeight    float64 `yaml:"ghmc_weight"`
	GHMCMaxWeight float64 `yaml:"ghmc_max_weight"`
	// GHM-R options (defaults: mu 0.02, 10 bins, momentum 0.7, weight 10).
	GHMRMu        float64 `yaml:"ghmr_mu"`
	GHMRBins      int     `yaml:"ghmr_bins"`
	GHMRMomentum  float64 `yaml:"ghmr_momentum"`
	GHMRWeight    float64 `yaml:"ghmr_weight"`
	GHMRMaxWeight float64 `yaml:"ghmr_max_weight"`
	// PaperNorm normalises GHM weights by the number of bins M instead of
	// the number of non-empty bins (the paper's formula; default false, as
	// the reference code).
	PaperNorm bool `yaml:"paper_norm"`
	// Focal loss gamma and alpha (defaults 2, 0.25).
	FocalGamma float64 `yaml:"focal_gamma"`
	FocalAlpha float64 `yaml:"focal_alpha"`
	// OHEMRatio is the number of negatives kept per positive (default 3).
	OHEMRatio float64 `yaml:"ohem_ratio"`
	// OHEMMinPositives is the number of positives an image without any is
	// mined as if it had (default 0: such an image keeps no negative, as
	// SSD-style mining in the reference; 1 keeps its OHEMRatio hardest
	// negatives).
	OHEMMinPositives int `yaml:"ohem_min_positives"`
	// SmoothL1Beta (default 0.11) and ASL1Mu (default 0.02).
	SmoothL1Beta float64 `yaml:"smooth_l1_beta"`
	ASL1Mu       float64 `yaml:"asl1_mu"`
	// RegWeight multiplies the baseline box losses (smooth L1, L1, ASL1);
	// default 1, as the reference RetinaNet. GHM-R uses GHMRWeight.
	RegWeight float64 `yaml:"reg_weight"`
}

// ResizeConfig is the keep-ratio resize of the input pipeline, the same for
// training, evaluation and prediction: each image is scaled by
// min(ShortSide/min(w, h), LongSide/max(w, h)) (mmdetection's keep-ratio
// scale (LongSide, ShortSide); a zero side is no limit), then, if still
// larger than the canvas, scaled down to fit it. Both zero (the cpu and
// mobilenet presets) scales every image to fit the canvas. The reference
// preset resizes to fit 1333 x 800 on a 1344 x 800 canvas (a multiple of
// 32); with one fixed canvas, portrait images are fitted into its height
// (800), where the reference's own batches would pad them to 800 x 1333.
type ResizeConfig struct {
	LongSide  int `yaml:"long_side"`
	ShortSide int `yaml:"short_side"`
}

// AugmentConfig is the training-time augmentation. Evaluation uses none.
type AugmentConfig struct {
	// FlipProb is the probability of a horizontal flip (default 0.5).
	FlipProb float64 `yaml:"flip_prob"`
	// Brightness, Contrast and Saturation jitter strengths (default 0).
	Brightness float64 `yaml:"brightness"`
	Contrast   float64 `yaml:"contrast"`
	Saturation float64 `yaml:"saturation"`
	// ScaleJitter, when its upper end is positive, draws each image's short
	// side from [ScaleJitter[0], ScaleJitter[1]] (default off).
	ScaleJitter [2]int `yaml:"scale_jitter"`
	// Mean and Std normalise RGB on the 0..255 scale (defaults: ImageNet
	// statistics 123.675, 116.28, 103.53 / 58.395, 57.12, 57.375).
	Mean [3]float32 `yaml:"mean"`
	Std  [3]float32 `yaml:"std"`
	// MosaicProb is the probability that a training sample is a mosaic of
	// 4 images (its own and 3 drawn at random) around a random join point,
	// as Ultralytics YOLO's (default 0: off; Ultralytics uses 1).
	MosaicProb float64 `yaml:"mosaic_prob"`
	// Zoom is the range [min, max] of the random zoom: each sample's images
	// are resized by g times their fit to the canvas, g drawn uniformly
	// from the range, and a single image is placed at a random position (a
	// random crop when larger than the canvas). Default [0, 0]: off
	// (suggested [0.5, 1.5], Ultralytics' scale 0.5).
	Zoom [2]float64 `yaml:"zoom"`
	// MinAreaFrac drops a box cut by zoom or mosaic when less than this
	// fraction of its area remains on the canvas (default 0.2; 0 keeps
	// every box of at least 1 pixel).
	MinAreaFrac float64 `yaml:"min_area_frac"`
	// HSVH, HSVS and HSVV are Ultralytics' HSV jitter gains, applied to
	// each image: hue rotated by up to +-hsv_h of the colour circle,
	// saturation and value multiplied by a factor in [1-hsv_s, 1+hsv_s]
	// and [1-hsv_v, 1+hsv_v]. Default 0: off (Ultralytics: 0.015, 0.7,
	// 0.4).
	HSVH float64 `yaml:"hsv_h"`
	HSVS float64 `yaml:"hsv_s"`
	HSVV float64 `yaml:"hsv_v"`
	// CloseMosaic turns mosaic and zoom off for the last close_mosaic
	// epochs of the run, counted from the run's current plan at the start
	// of each epoch (a time budget may change the plan after every epoch),
	// as Ultralytics' close_mosaic (default 0: never; Ultralytics uses 10).
	CloseMosaic int `yaml:"close_mosaic"`
	// CacheBytes is the budget, in bytes, of the in-memory cache of decoded
	// training images, each kept reduced to the largest size training uses
	// (default 0: off; the cpu and mobilenet presets: 1073741824, 1 GiB;
	// decoding is most of the loader's work for large photographs). With the cache,
	// reduced images are resampled twice, so pixels differ slightly from a
	// run without it; they never depend on what the cache holds.
	CacheBytes int64 `yaml:"cache_bytes"`
}

// Validate checks the augmentation keys added for mosaic, zoom, HSV jitter,
// close_mosaic and the cache, and names the first bad key. (The flip and
// photometric strengths are checked when the loader is built.)
func (a AugmentConfig) Validate() error {
	if !(a.MosaicProb >= 0 && a.MosaicProb <= 1) {
		return fmt.Errorf("augment.mosaic_prob: must be in [0, 1], got %g", a.MosaicProb)
	}
	if z := a.Zoom; z != [2]float64{} && !(z[0] > 0 && z[1] >= z[0] && !math.IsInf(z[1], 0)) {
		return fmt.Errorf("augment.zoom: must be [0, 0] (off) or [min, max] with 0 < min <= max, got [%g, %g]", z[0], z[1])
	}
	if !(a.MinAreaFrac >= 0 && a.MinAreaFrac < 1) {
		return fmt.Errorf("augment.min_area_frac: must be in [0, 1), got %g", a.MinAreaFrac)
	}
	for _, g := range []struct {
		key string
		v   float64
	}{{"hsv_h", a.HSVH}, {"hsv_s", a.HSVS}, {"hsv_v", a.HSVV}} {
		if !(g.v >= 0 && g.v <= 1) {
			return fmt.Errorf("augment.%s: must be in [0, 1], got %g", g.key, g.v)
		}
	}
	if a.CloseMosaic < 0 {
		return fmt.Errorf("augment.close_mosaic: must be >= 0, got %d", a.CloseMosaic)
	}
	if a.CacheBytes < 0 {
		return fmt.Errorf("augment.cache_bytes: must be >= 0, got %d", a.CacheBytes)
	}
	return nil
}

// TrainConfig configures the training loop.
type TrainConfig struct {
	// Epochs is the number of passes over the training data (default 12).
	Epochs int `yaml:"epochs"`
	// BatchSize is the number of images per step (default 2).
	BatchSize int `yaml:"batch_size"`
	// Workers is the number of image-decoding goroutines (0 = all cores).
	Workers int `yaml:"workers"`
	// EvalEvery evaluates on the validation data every N epochs (default 1;
	// 0 evaluates only at the end).
	EvalEvery int `yaml:"eval_every"`
	// LogEvery writes a metrics line every N steps (default 10).
	LogEvery int `yaml:"log_every"`
	// TimeBudget stops training cleanly when it is used up, then evaluates
	// and saves ("" or "0" = no limit; Go duration syntax, e.g. "20m").
	TimeBudget string `yaml:"time_budget"`
	// Strict makes bad data records fatal instead of skipped and counted.
	Strict bool `yaml:"strict"`
}

// Budget parses TimeBudget; zero means no limit.
func (t TrainConfig) Budget() (time.Duration, error) {
	if t.TimeBudget == "" || t.TimeBudget == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(t.TimeBudget)
	if err != nil {
		return 0, fmt.Errorf("train.time_budget %q: %w", t.TimeBudget, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("train.time_budget %q: must not be negative", t.TimeBudget)
	}
	return d, nil
}

// Presets lists the configuration presets.
var Presets = []string{"cpu", "mobilenet", "reference"}

// Preset returns the full configuration of a named preset:
//
//   - "reference": the published RetinaNet GHM configuration (ResNet-50,
//     FPN 256, heads 4 x 256, images resized to fit 1333 x 800 on a
//     1344 x 800 canvas, SGD lr 0.01 for batch 16 scaled linearly to the
//     batch (2 images: 0.00125), warm-up 500 iterations from lr/3, 1x
//     schedule, GHM-C + GHM-R).
//   - "cpu": a detector that trains from scratch in minutes on 2 CPU cores
//     (tiny backbone with group-norm, FPN 64, heads 2 x 64, 256 x 256 input,
//     AdamW, weight averages, a 1 GiB decoded-image cache); the demo's
//     preset.
//   - "mobilenet": MobileNetV2 (ImageNet weights from a TFLite file with
//     model.backbone_weights, or from scratch), FPN 64, heads 2 x 64 with
//     group-norm, 256 x 256 input: for real data with a few hundred images.
func Preset(name string) (Config, error) {
	m, err := model.Preset(name)
	if err != nil {
		return Config{}, fmt.Errorf("unknown preset %q (allowed: %s)", name, strings.Join(Presets, ", "))
	}
	c := Config{
		Preset:    name,
		Seed:      1,
		Model:     m,
		Anchors:   box.DefaultAnchorConfig(),
		Assign:    box.DefaultAssignConfig(),
		Coder:     box.DefaultCoder(),
		Loss:      DefaultLoss(),
		Optimizer: train.DefaultOptimizer(),
		Schedule:  train.DefaultSchedule(),
		Augment: AugmentConfig{
			FlipProb:    0.5,
			MinAreaFrac: 0.2,
			Mean:        [3]float32{123.675, 116.28, 103.53},
			Std:         [3]float32{58.395, 57.12, 57.375},
		},
		Train: TrainConfig{Epochs: 12, BatchSize: 2, EvalEvery: 1, LogEvery: 10},
		Test:  box.DefaultPostProcessConfig(),
	}
	c.Model.Seed = c.Seed
	switch name {
	case "reference":
		c.Model.InputWidth, c.Model.InputHeight = 1344, 800
		c.Resize = ResizeConfig{LongSide: 1333, ShortSide: 800}
	case "cpu":
		applyCPUPreset(&c)
	case "mobilenet":
		applyCPUPreset(&c)
		applyMobileNetPreset(&c)
	}
	return c, nil
}

// DefaultLoss returns the reference loss configuration: GHM-C + GHM-R.
func DefaultLoss() LossConfig {
	return LossConfig{
		Cls: ClsGHMC, Reg: RegGHMR, GroupSize: 2,
		GHMCBins: 30, GHMCMomentum: 0.75, GHMCWeight: 1,
		GHMRMu: 0.02, GHMRBins: 10, GHMRMomentum: 0.7, GHMRWeight: 10,
		FocalGamma: 2, FocalAlpha: 0.25, OHEMRatio: 3,
		SmoothL1Beta: 0.11, ASL1Mu: 0.02, RegWeight: 1,
	}
}

// Validate checks the configuration and names the first bad key.
func (c *Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := c.Anchors.Validate(); err != nil {
		return fmt.Errorf("anchors: %w", err)
	}
	if c.Anchors.NumPerLocation() != c.Model.NumAnchors {
		return fmt.Errorf("anchors: %d anchors per location, but model.num_anchors is %d", c.Anchors.NumPerLocation(), c.Model.NumAnchors)
	}
	if err := c.Assign.Validate(); err != nil {
		return err
	}
	if err := c.Coder.Validate(); err != nil {
		return fmt.Errorf("coder: %w", err)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	if err := c.Schedule.Validate(); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if err := c.Loss.Validate(); err != nil {
		return err
	}
	if err := c.Augment.Validate(); err != nil {
		return err
	}
	if c.Resize.LongSide < 0 || c.Resize.ShortSide < 0 {
		return fmt.Errorf("resize: long_side and short_side must be >= 0, got %d and %d", c.Resize.LongSide, c.Resize.ShortSide)
	}
	if c.Train.BatchSize < 1 {
		return fmt.Errorf("train.batch_size: must be >= 1, got %d", c.Train.BatchSize)
	}
	if c.Train.BatchSize%c.Loss.GroupSize != 0 && c.Train.BatchSize > c.Loss.GroupSize {
		return fmt.Errorf("train.batch_size %d is not a multiple of loss.group_size %d", c.Train.BatchSize, c.Loss.GroupSize)
	}
	if c.Train.Epochs < 0 {
		return fmt.Errorf("train.epochs: must be >= 0, got %d", c.Train.Epochs)
	}
	if _, err := c.Train.Budget(); err != nil {
		return err
	}
	if len(c.Classes) > 0 && len(c.Classes) != c.Model.NumClasses {
		return fmt.Errorf("classes: %d names but model.num_classes is %d", len(c.Classes), c.Model.NumClasses)
	}
	if len(c.CategoryIDs) > 0 && len(c.CategoryIDs) != len(c.Classes) {
		return fmt.Errorf("category_ids: %d ids for %d classes", len(c.CategoryIDs), len(c.Classes))
	}
	if c.Model.InputWidth%InputMultiple != 0 || c.Model.InputHeight%InputMultiple != 0 {
		return fmt.Errorf("model.input_width/input_height: %dx%d must be multiples of %d (the P5 stride: the pyramid's top-down path doubles P5 to P4 and P4 to P3)", c.Model.InputWidth, c.Model.InputHeight, InputMultiple)
	}
	return nil
}

// InputMultiple is the multiple the input canvas sides must be (the stride
// of P5; P6 and P7 are ceil(P5/2) and ceil(P6/2), as in the reference, which
// pads images to a multiple of 32).
const InputMultiple = 32

// Validate checks the loss settings and names the first bad key.
func (lc LossConfig) Validate() error {
	if !contains(ClsLosses, lc.Cls) {
		return fmt.Errorf("loss.cls: unknown value %q (allowed: %s)", lc.Cls, strings.Join(ClsLosses, ", "))
	}
	if !contains(RegLosses, lc.Reg) {
		return fmt.Errorf("loss.reg: unknown value %q (allowed: %s)", lc.Reg, strings.Join(RegLosses, ", "))
	}
	if lc.GroupSize < 1 {
		return fmt.Errorf("loss.group_size: must be >= 1, got %d", lc.GroupSize)
	}
	// Every option is checked, whichever loss is selected, so that a
	// configuration stays valid when only loss.cls or loss.reg changes.
	if err := lc.ghmcOptions().Validate(); err != nil {
		return fmt.Errorf("loss.ghmc_*: %w", err)
	}
	if err := lc.ghmrOptions().Validate(); err != nil {
		return fmt.Errorf("loss.ghmr_*: %w", err)
	}
	if err := (loss.FocalOptions{Gamma: lc.FocalGamma, Alpha: lc.FocalAlpha}).Validate(); err != nil {
		return fmt.Errorf("loss.focal_gamma/focal_alpha: %w", err)
	}
	if err := (loss.OHEMOptions{NegPosRatio: lc.OHEMRatio, MinPositives: lc.OHEMMinPositives}).Validate(); err != nil {
		return fmt.Errorf("loss.ohem_ratio/ohem_min_positives: %w", err)
	}
	for _, f := range []struct {
		key      string
		v        float64
		positive bool
	}{{"smooth_l1_beta", lc.SmoothL1Beta, false}, {"asl1_mu", lc.ASL1Mu, true}, {"reg_weight", lc.RegWeight, false}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 || (f.positive && f.v == 0) {
			cond := ">= 0"
			if f.positive {
				cond = "> 0"
			}
			return fmt.Errorf("loss.%s: must be finite and %s, got %g", f.key, cond, f.v)
		}
	}
	return nil
}

// ghmcOptions and ghmrOptions are the GHM loss options of the configuration.
func (lc LossConfig) ghmcOptions() loss.GHMCOptions {
	return loss.GHMCOptions{Bins: lc.GHMCBins, Momentum: lc.GHMCMomentum, LossWeight: lc.GHMCWeight,
		MaxWeight: lc.GHMCMaxWeight, PaperNorm: lc.PaperNorm}
}

func (lc LossConfig) ghmrOptions() loss.GHMROptions {
	return loss.GHMROptions{Mu: lc.GHMRMu, Bins: lc.GHMRBins, Momentum: lc.GHMRMomentum, LossWeight: lc.GHMRWeight,
		MaxWeight: lc.GHMRMaxWeight, PaperNorm: lc.PaperNorm}
}

// LoadConfig reads a YAML configuration file over a preset. The file may
// name its own preset ("preset: cpu"); otherwise preset is used. Unknown keys
// are errors naming the key and the allowed keys.
func LoadConfig(path, preset string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, raw, preset)
}

// ParseConfig is LoadConfig on YAML text; name is used in errors.
func ParseConfig(path string, raw []byte, preset string) (Config, error) {
	var head struct {
		Preset string `yaml:"preset"`
	}
	_ = yaml.Unmarshal(raw, &head)
	if head.Preset != "" {
		preset = head.Preset
	}
	c, err := Preset(preset)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := strictyaml.Unmarshal(path, raw, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// YAML returns the configuration as YAML text (what a run saves).
func (c *Config) YAML() ([]byte, error) {
	return yaml.Marshal(c)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// applyCPUPreset sets the training recipe of the "cpu" preset: small
// anchors for small objects at 256 x 256, batch 4, a short warm-up and a
// step decay late in the run, scaled for a few minutes of CPU training, AdamW.
func applyCPUPreset(c *Config) {
	// Anchors of 16-25 pixels at P3 (reference: 32-51) so that the small
	// objects of 256 x 256 images get proper positive anchors.
	c.Anchors.OctaveBaseScale = 2
	c.Train.Epochs = 24
	c.Train.BatchSize = 4
	c.Train.EvalEvery = 4
	// From scratch on a small batch, AdamW converges several times faster
	// than the reference SGD recipe (measured on the demo data: AP50 0.20
	// with SGD lr 0.01 after 6 epochs).
	c.Optimizer.Name = train.AdamW
	c.Optimizer.LR = 1e-3
	c.Optimizer.BaseBatch = 0
	c.Optimizer.WeightDecay = 0.05
	c.Schedule.WarmupIters = 100
	c.Schedule.WarmupRatio = 0.1
	c.Schedule.Steps = []int{16, 22}
	// Weight averages for evaluation, checkpoints and inference
	// (Ultralytics' ModelEMA with a shorter ramp for short runs) and the
	// decoded-image cache (1 GiB): measured on BCCD and on 1024-pixel
	// generated images in 6-minute budgets (docs/results.md), the two
	// changes that helped; mosaic, zoom and a cosine schedule did not.
	c.Optimizer.EMADecay = 0.9999
	c.Optimizer.EMATau = 500
	c.Augment.CacheBytes = 1 << 30
}

// ClassName returns the name of class k (its index when unnamed).
func (c *Config) ClassName(k int) string {
	if k >= 0 && k < len(c.Classes) {
		return c.Classes[k]
	}
	return fmt.Sprintf("class_%d", k)
}

// ClassNames returns the names of all classes.
func (c *Config) ClassNames() []string {
	names := make([]string, c.Model.NumClasses)
	for k := range names {
		names[k] = c.ClassName(k)
	}
	return names
}

// applyMobileNetPreset adapts the CPU recipe to the MobileNetV2 backbone:
// its input normalisation ((pixel-128)/128, as the TFLite model was trained).
func applyMobileNetPreset(c *Config) {
	c.Augment.Mean = [3]float32{128, 128, 128}
	c.Augment.Std = [3]float32{128, 128, 128}
}
