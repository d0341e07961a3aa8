package detector

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/gomlx/compute"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/eval"
	"github.com/ghmdet/ghmdet/train"
)

// EvalBatch is the number of images per inference call during evaluation.
const EvalBatch = 4

// PredictDataset runs the detector over every image of ds (in dataset
// order, without augmentation) and returns the detections of each image,
// indexed like ds.Images (nil for images that could not be read). The
// network runs as the GoMLX graph; PredictDatasetWith chooses the engine.
func PredictDataset(backend compute.Backend, store *mlmodel.Store, cfg Config, ds *data.Dataset) ([][]Detection, error) {
	return PredictDatasetWith(backend, store, cfg, ds, PredictOptions{Engine: EngineGraph})
}

// PredictDatasetWith is PredictDataset with the engine of opts.
func PredictDatasetWith(backend compute.Backend, store *mlmodel.Store, cfg Config, ds *data.Dataset, opts PredictOptions) ([][]Detection, error) {
	pred, err := NewPredictorWith(backend, store, cfg, opts)
	if err != nil {
		return nil, err
	}
	defer pred.Close()
	ld, err := evalLoader(&cfg, ds, EvalBatch)
	if err != nil {
		return nil, err
	}
	out := make([][]Detection, len(ds.Images))
	it := ld.Epoch(context.Background(), 0)
	defer it.Close()
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("evaluation data: %w", err)
		}
		dets, err := pred.PredictBatch(b.Images, b.B, b.Records)
		if err != nil {
			return nil, err
		}
		for i, idx := range b.Indices {
			out[idx] = dets[i]
		}
		ld.Recycle(b)
	}
	return out, nil
}

// EvalDetections converts per-image detections into the evaluator's
// detections (COCO results format, dataset category ids, x y w h boxes).
func EvalDetections(ds *data.Dataset, dets [][]Detection) []eval.Detection {
	var res []eval.Detection
	for i, list := range dets {
		for _, d := range list {
			res = append(res, eval.Detection{
				ImageID: ds.Images[i].ID, CategoryID: eval.CategoryID(ds, d.Class),
				BBox:  [4]float64{d.Box[0], d.Box[1], d.Box[2] - d.Box[0], d.Box[3] - d.Box[1]},
				Score: d.Score,
			})
		}
	}
	return res
}

// Evaluate predicts ds and evaluates the detections with the COCO metrics.
// When detsPath is not empty the detections are written there (COCO results
// JSON, atomically). It returns the evaluation and the per-image detections.
// The model's class k is scored as ds's class k: Evaluate checks that the
// numbers of classes agree; comparing the names is the caller's choice (see
// CheckClasses).
// The network runs as the GoMLX graph (evaluation during training);
// EvaluateWith chooses the engine.
func Evaluate(backend compute.Backend, store *mlmodel.Store, cfg Config, ds *data.Dataset, detsPath string) (*eval.Result, [][]Detection, error) {
	return EvaluateWith(backend, store, cfg, ds, detsPath, PredictOptions{Engine: EngineGraph})
}

// EvaluateWith is Evaluate with the engine of opts.
func EvaluateWith(backend compute.Backend, store *mlmodel.Store, cfg Config, ds *data.Dataset, detsPath string, opts PredictOptions) (*eval.Result, [][]Detection, error) {
	if err := CheckClasses(cfg, ds, true); err != nil {
		return nil, nil, fmt.Errorf("evaluate on %s: %w", ds.Name, err)
	}
	dets, err := PredictDatasetWith(backend, store, cfg, ds, opts)
	if err != nil {
		return nil, nil, err
	}
	ed := EvalDetections(ds, dets)
	if detsPath != "" {
		var buf bytes.Buffer
		if err := eval.WriteDetections(&buf, ed); err != nil {
			return nil, nil, err
		}
		if err := train.WriteFileAtomic(detsPath, buf.Bytes(), 0o644); err != nil {
			return nil, nil, err
		}
	}
	gt, err := eval.FromDataset(ds)
	if err != nil {
		return nil, nil, err
	}
	res, err := eval.Evaluate(gt, ed, eval.Options{})
	return res, dets, err
}
