package detector

import (
	"fmt"

	"github.com/gomlx/compute"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/internal/inference"
)

// Detection is one detected object in original image coordinates: Box is
// x1, y1, x2, y2 in pixels of the original image, Class the contiguous
// class index and Score its probability.
type Detection = inference.Detection

// Predictor runs a trained detector on images of any size: it resizes them to
// fit the configured input canvas keeping the aspect ratio, pads, runs the
// network, post-processes (top-k, threshold, NMS) and maps the boxes back to
// the original image. It is package inference's predictor (shared with
// package detect).
type Predictor = inference.Predictor

// PredictOptions chooses the engine that runs the network (see
// inference.PredictorOptions).
type PredictOptions = inference.PredictorOptions

// Engine names: EngineNative is the plain-Go engine (package engine),
// EngineGraph the GoMLX graph, EngineAuto the native one.
const (
	EngineAuto   = inference.EngineAuto
	EngineNative = inference.EngineNative
	EngineGraph  = inference.EngineGraph
)

// NewPredictor compiles the inference graph over the variables of store
// (the GoMLX graph engine). The store must hold the detector's variables
// (trained or loaded from a checkpoint); later changes to them are not seen
// (make a new Predictor).
func NewPredictor(backend compute.Backend, store *mlmodel.Store, cfg Config) (*Predictor, error) {
	return NewPredictorWith(backend, store, cfg, PredictOptions{Engine: EngineGraph})
}

// NewPredictorWith is NewPredictor with the engine of opts (the native
// engine needs no backend: backend may be nil).
func NewPredictorWith(backend compute.Backend, store *mlmodel.Store, cfg Config, opts PredictOptions) (*Predictor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec, err := cfg.inferenceSpec()
	if err != nil {
		return nil, err
	}
	return inference.NewPredictorWith(backend, store, spec, opts)
}

// inferenceSpec returns what running the model needs of the configuration,
// read from its YAML text as package inference reads a checkpoint's, so
// that a model runs the same whichever way it was loaded.
func (c *Config) inferenceSpec() (inference.Spec, error) {
	text, err := c.YAML()
	if err != nil {
		return inference.Spec{}, fmt.Errorf("configuration: %w", err)
	}
	return inference.ParseSpec("configuration", text)
}
