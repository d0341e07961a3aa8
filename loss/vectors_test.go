package loss

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

// vectorsEnvVar names the environment variable that points TestLossVectors
// at a GHM reference-vector file (default: ../shared/testdata/ghm-vectors.json
// beside the repository).
const vectorsEnvVar = "GHMDET_LOSS_VECTORS"

type vectorFile struct {
	About string       `json:"about"`
	Seed  int64        `json:"seed"`
	Cases []vectorCase `json:"cases"`
}

type vectorCase struct {
	Name   string             `json:"name"`
	Loss   string             `json:"loss"`
	Shape  []int              `json:"shape"`
	Params map[string]float64 `json:"params"`
	Steps  []vectorStep       `json:"steps"`
}

type vectorStep struct {
	Pred     []float64 `json:"pred"`
	Target   []float64 `json:"target"`
	Weight   []float64 `json:"weight"`
	Loss     float64   `json:"loss"`
	Grad     []float64 `json:"grad"`
	AccAfter []float64 `json:"acc_after"`
}

// caseOptions maps a case's loss name and params to GHMCOptions or
// GHMROptions; unknown names or keys are errors so that a new parameter in
// the file cannot be silently ignored.
func caseOptions(c vectorCase) (any, error) {
	known := map[string]bool{"bins": true, "momentum": true, "loss_weight": true}
	var opts any
	switch c.Loss {
	case "ghmc":
		o := DefaultGHMCOptions()
		set := func(k string, v float64) {
			switch k {
			case "bins":
				o.Bins = int(v)
			case "momentum":
				o.Momentum = v
			case "loss_weight":
				o.LossWeight = v
			}
		}
		for k, v := range c.Params {
			if !known[k] {
				return nil, fmt.Errorf("case %q: unknown ghmc parameter %q", c.Name, k)
			}
			set(k, v)
		}
		opts = o
	case "ghmr":
		known["mu"] = true
		o := DefaultGHMROptions()
		for k, v := range c.Params {
			switch k {
			case "bins":
				o.Bins = int(v)
			case "momentum":
				o.Momentum = v
			case "loss_weight":
				o.LossWeight = v
			case "mu":
				o.Mu = v
			default:
				return nil, fmt.Errorf("case %q: unknown ghmr parameter %q", c.Name, k)
			}
		}
		opts = o
	default:
		return nil, fmt.Errorf("case %q: unknown loss %q", c.Name, c.Loss)
	}
	return opts, nil
}

// vectorsPath returns the reference-vector file: $GHMDET_LOSS_VECTORS when
// set (a missing file is then a failure), else the shared test data (the test
// skips when it is absent).
func vectorsPath(t *testing.T) string {
	if p := os.Getenv(vectorsEnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", vectorsEnvVar, p, err)
		}
		return p
	}
	return testutil.SharedDir(t, "testdata", "ghm-vectors.json")
}

func TestLossVectors(t *testing.T) {
	path := vectorsPath(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(vf.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	steps := 0
	names := map[string]bool{}
	for _, c := range vf.Cases {
		if names[c.Name] {
			t.Fatalf("%s: duplicate case %q", path, c.Name)
		}
		names[c.Name] = true
		opts, err := caseOptions(c)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(c.Shape) == 0 || len(c.Steps) == 0 {
			t.Fatalf("%s: case %q has no shape or no steps", path, c.Name)
		}
		size := 1
		for _, d := range c.Shape {
			size *= d
		}
		t.Run(c.Name, func(t *testing.T) {
			r := newGHMRunner(t, c.Loss, opts, 1)
			for si, s := range c.Steps {
				for name, v := range map[string][]float64{"pred": s.Pred, "target": s.Target, "weight": s.Weight, "grad": s.Grad} {
					if len(v) != size {
						t.Fatalf("step %d: %s has %d values, want %d (shape %v)", si, name, len(v), size, c.Shape)
					}
				}
				res := r.step(t, tensor2D(toF32(s.Pred), c.Shape...),
					tensor2D(toF32(s.Target), c.Shape...), tensor2D(toF32(s.Weight), c.Shape...))
				loss, grad, acc := res.loss, res.grad, res.acc
				if s.Loss == 0 {
					if loss != 0 {
						t.Errorf("step %d: loss = %g, want exactly 0", si, loss)
					}
				} else if !closeRel(float64(loss), s.Loss, 1e-5, 0) {
					t.Errorf("step %d: loss = %.9g, want %.9g (rel. err %.2g)", si, loss, s.Loss,
						(float64(loss)-s.Loss)/s.Loss)
				}
				if err := compareSlices(fmt.Sprintf("step %d: grad", si), grad, s.Grad, 1e-4, 1e-7); err != nil {
					t.Error(err)
				}
				if err := compareSlices(fmt.Sprintf("step %d: acc_after", si), acc, s.AccAfter, 1e-5, 1e-30); err != nil {
					t.Error(err)
				}
			}
		})
		steps += len(c.Steps)
	}
	t.Logf("checked %d cases (%d steps) from %s", len(vf.Cases), steps, path)
}
