package inference

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
)

// Detection is one detected object in original image coordinates.
type Detection struct {
	// Box is x1, y1, x2, y2 in pixels of the original image.
	Box [4]float64
	// Class is the contiguous class index; Score its probability.
	Class int
	Score float64
}

// Predictor runs a trained detector on images of any size: it resizes them to
// fit the configured input canvas keeping the aspect ratio, pads, runs the
// network, post-processes (top-k, threshold, NMS) and maps the boxes back to
// the original image. Its methods are safe for concurrent use (the compiled
// graphs are shared; one is compiled per batch size, on first use).
type Predictor struct {
	spec    Spec
	exec    *mlmodel.Exec
	tf      *transform.Transform
	anchors box.Anchors
	offsets []int
	counts  []int
}

// NewPredictor compiles the inference graph over the variables of store.
// The store must hold the detector's variables (trained or loaded from a
// checkpoint); later changes to them are not seen (make a new Predictor).
func NewPredictor(backend compute.Backend, store *mlmodel.Store, spec Spec) (*Predictor, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	tf, err := transform.New(spec.Transform())
	if err != nil {
		return nil, fmt.Errorf("predictor transform: %w", err)
	}
	anchors, err := box.GenerateAnchors(spec.Anchors, spec.Model.InputHeight, spec.Model.InputWidth)
	if err != nil {
		return nil, fmt.Errorf("predictor anchors: %w", err)
	}
	offsets, counts := LevelOffsets(spec.Model)
	if n := offsets[len(offsets)-1] + counts[len(counts)-1]; n != len(anchors.Boxes) {
		return nil, fmt.Errorf("predictor: the network emits %d anchors per image but the anchor generator made %d", n, len(anchors.Boxes))
	}
	exec, err := mlmodel.NewExec(backend, store, GraphFn(spec.Model))
	if err != nil {
		return nil, fmt.Errorf("predictor graph: %w", err)
	}
	return &Predictor{spec: spec, exec: exec, tf: tf, anchors: anchors, offsets: offsets, counts: counts}, nil
}

// Close releases the compiled graphs.
func (p *Predictor) Close() { p.exec.Finalize() }

// Spec returns the predictor's Spec.
func (p *Predictor) Spec() Spec { return p.spec }

// Transform returns the input transform (safe for concurrent use).
func (p *Predictor) Transform() *transform.Transform { return p.tf }

// SetMaxBatchSizes bounds the number of batch sizes the predictor compiles a
// graph for (each batch size is compiled once, on first use); a batch of
// another size beyond that many is an error. The default is GoMLX's (32).
func (p *Predictor) SetMaxBatchSizes(n int) { p.exec.SetMaxCache(n) }

// Predict detects objects in one decoded image.
func (p *Predictor) Predict(img *imageio.RGB) ([]Detection, error) {
	pix, rec, err := p.tf.Apply(img, transform.Params{})
	if err != nil {
		return nil, err
	}
	dets, err := p.PredictBatch(pix, 1, []transform.Record{rec})
	if err != nil {
		return nil, err
	}
	return dets[0], nil
}

// PredictBatch detects objects in a batch of already transformed images
// (B x H x W x 3 float32 NHWC at the configured input size) whose transform
// records map boxes back to the original images, with the Spec's
// post-processing.
func (p *Predictor) PredictBatch(pix []float32, b int, recs []transform.Record) ([][]Detection, error) {
	return p.PredictBatchWith(pix, b, recs, nil)
}

// PredictBatchWith is PredictBatch with post-processing settings per image;
// post nil uses the Spec's (Test) for every image.
func (p *Predictor) PredictBatchWith(pix []float32, b int, recs []transform.Record, post []box.PostProcessConfig) ([][]Detection, error) {
	h, w := p.spec.Model.InputHeight, p.spec.Model.InputWidth
	if len(pix) != b*h*w*3 || len(recs) != b {
		return nil, fmt.Errorf("predict: batch of %d floats and %d records does not match %d images of %dx%d", len(pix), len(recs), b, w, h)
	}
	if post != nil && len(post) != b {
		return nil, fmt.Errorf("predict: %d post-processing settings for %d images", len(post), b)
	}
	in := tensors.FromFlatDataAndDimensions(pix, b, h, w, 3)
	outs, err := p.exec.Exec(in)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	probs, err := tensors.CopyFlatData[float32](outs[0])
	if err != nil {
		return nil, err
	}
	deltas, err := tensors.CopyFlatData[float32](outs[1])
	if err != nil {
		return nil, err
	}
	k := p.spec.Model.NumClasses
	n := len(p.anchors.Boxes)
	res := make([][]Detection, b)
	lp := make([][]float32, len(p.offsets))
	ld := make([][]float32, len(p.offsets))
	for i := 0; i < b; i++ {
		for l := range p.offsets {
			lp[l] = probs[(i*n+p.offsets[l])*k : (i*n+p.offsets[l]+p.counts[l])*k]
			ld[l] = deltas[(i*n+p.offsets[l])*4 : (i*n+p.offsets[l]+p.counts[l])*4]
		}
		pp := p.spec.Test
		if post != nil {
			pp = post[i]
		}
		rec := recs[i]
		dets, err := box.PostProcess(p.anchors, lp, ld, k, rec.ResizedW, rec.ResizedH, p.spec.Coder, pp)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		out := make([]Detection, 0, len(dets))
		for _, d := range dets {
			bx := rec.Inverse([4]float64{float64(d.Box[0]), float64(d.Box[1]), float64(d.Box[2]), float64(d.Box[3])})
			if bx[2] <= bx[0] || bx[3] <= bx[1] {
				continue
			}
			out = append(out, Detection{Box: bx, Class: d.Class, Score: float64(d.Score)})
		}
		res[i] = out
	}
	return res, nil
}
