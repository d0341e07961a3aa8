package loss

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Benchmark problem size: the anchors of two 512x512 images (49,104 per
// image: 9 anchors at each of the 64^2 + 32^2 + 16^2 + 8^2 + 4^2 positions of
// P3-P7) and the 80 COCO classes.
const (
	BenchAnchors = 2 * 49104
	BenchClasses = 80
)

// BenchData returns synthetic classification inputs for benchmarks: logits
// [anchors, classes] drawn from N(-4, 2), one positive anchor per 100 on
// average (a one-hot target of a random class), and weights 1 except for
// about 5% of the anchors (ignored, weight 0 on all classes). seed makes it
// reproducible. numPos is the number of positive anchors.
func BenchData(anchors, classes int, seed uint64) (logits, targets, weights *tensors.Tensor, numPos int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	x := make([]float32, anchors*classes)
	t := make([]float32, anchors*classes)
	w := make([]float32, anchors*classes)
	for a := range anchors {
		row := a * classes
		ignored := rng.Float64() < 0.05
		positive := !ignored && rng.Float64() < 0.01
		cls := rng.IntN(classes)
		for c := range classes {
			x[row+c] = float32(rng.NormFloat64()*2 - 4)
			if !ignored {
				w[row+c] = 1
			}
		}
		if positive {
			t[row+cls] = 1
			numPos++
		}
	}
	return tensors.FromFlatDataAndDimensions(x, anchors, classes),
		tensors.FromFlatDataAndDimensions(t, anchors, classes),
		tensors.FromFlatDataAndDimensions(w, anchors, classes), numPos
}

// BenchResult holds the timings of BenchGHMCvsFocal.
type BenchResult struct {
	// GHMC and Focal are the median times of one forward+backward pass
	// (loss and gradient with respect to the logits).
	GHMC, Focal time.Duration
	// Runs is the number of timed passes of each loss.
	Runs int
}

// Ratio returns GHMC / Focal.
func (r BenchResult) Ratio() float64 { return float64(r.GHMC) / float64(r.Focal) }

// benchExecs builds the two executables of the benchmark: GHM-C (default
// options, training graph, state updated) and focal loss (gamma 2, alpha
// 0.25, normalised by the number of positive anchors), each returning the
// loss and its gradient with respect to the logits.
func benchExecs(backend compute.Backend) (ghmc, focal *model.Exec, err error) {
	store := model.NewStore()
	l, err := NewGHMC(store.RootScope().In("ghmc"), DefaultGHMCOptions())
	if err != nil {
		return nil, nil, err
	}
	ghmc, err = model.NewExec(backend, store, func(_ *model.Scope, x, t, w *Node) (*Node, *Node) {
		store.SetTraining(x.Graph(), true)
		loss := l.Loss(x, t, w)
		return loss, Gradient(loss, x)[0]
	})
	if err != nil {
		return nil, nil, fmt.Errorf("GHM-C executable: %w", err)
	}
	focal, err = model.NewExec(backend, model.NewStore(), func(_ *model.Scope, x, t, w, numPos *Node) (*Node, *Node) {
		loss := Focal(x, t, w, numPos, DefaultFocalOptions())
		return loss, Gradient(loss, x)[0]
	})
	if err != nil {
		return nil, nil, fmt.Errorf("focal executable: %w", err)
	}
	return ghmc, focal, nil
}

// timedCall runs e once and returns how long it took, freeing the outputs.
func timedCall(e *model.Exec, args ...any) (d time.Duration, err error) {
	err = exceptions.TryCatch[error](func() {
		start := time.Now()
		out := e.MustExec(args...)
		d = time.Since(start)
		for _, o := range out {
			o.FinalizeAll()
		}
	})
	return d, err
}

// BenchGHMCvsFocal times the forward and backward pass of GHM-C and of the
// focal loss on BenchData(BenchAnchors, BenchClasses, 1) with the given
// backend: both executables are compiled and run once before timing, then n
// passes of each (alternating, n >= 1) are timed and the medians returned.
// A command calls it as
//
//	r, err := loss.BenchGHMCvsFocal(b, 5) // b from internal/backend.New("")
//	fmt.Printf("GHM-C %v, focal %v, ratio %.2f\n", r.GHMC, r.Focal, r.Ratio())
//
// Wall times depend on the other load of the machine: the backend runs
// independent operations on all cores, and GHM-C's histogram branch overlaps
// with the cross-entropy branch only when a second core is free.
func BenchGHMCvsFocal(backend compute.Backend, n int) (BenchResult, error) {
	if n < 1 {
		return BenchResult{}, fmt.Errorf("bench: n must be >= 1, got %d", n)
	}
	ghmc, focal, err := benchExecs(backend)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer ghmc.Finalize()
	defer focal.Finalize()
	x, t, w, numPos := BenchData(BenchAnchors, BenchClasses, 1)
	pos := tensors.FromValue(float32(numPos))
	var tg, tf []time.Duration
	for i := -1; i < n; i++ {
		dg, err := timedCall(ghmc, x, t, w)
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench: GHM-C: %w", err)
		}
		df, err := timedCall(focal, x, t, w, pos)
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench: focal: %w", err)
		}
		if i >= 0 { // the first pass compiles
			tg = append(tg, dg)
			tf = append(tf, df)
		}
	}
	return BenchResult{GHMC: median(tg), Focal: median(tf), Runs: n}, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
