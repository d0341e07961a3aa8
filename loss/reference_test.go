package loss

import "math"

// refGHM is a literal, loop-over-bins transcription of the GHM-C / GHM-R
// algorithm of the spec (shared/spec/ghm-losses.md) in float32 arithmetic,
// used to check the graph implementation on inputs of any size.
type refGHM struct {
	regression bool
	bins       int
	momentum   float32
	lossWeight float32
	mu         float32
	maxWeight  float32
	paperNorm  bool
	acc        []float32
}

func newRefGHMC(o GHMCOptions) *refGHM {
	return &refGHM{bins: o.Bins, momentum: float32(o.Momentum), lossWeight: float32(o.LossWeight),
		maxWeight: float32(o.MaxWeight), paperNorm: o.PaperNorm, acc: make([]float32, o.Bins)}
}

func newRefGHMR(o GHMROptions) *refGHM {
	return &refGHM{regression: true, bins: o.Bins, momentum: float32(o.Momentum),
		lossWeight: float32(o.LossWeight), mu: float32(o.Mu), maxWeight: float32(o.MaxWeight),
		paperNorm: o.PaperNorm, acc: make([]float32, o.Bins)}
}

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// gradNorm returns g for one entry, as the reference computes it in float32.
func (r *refGHM) gradNorm(p, t float32) float32 {
	if r.regression {
		d := float64(p - t)
		return float32(math.Abs(d) / math.Sqrt(d*d+float64(r.mu)*float64(r.mu)))
	}
	return float32(math.Abs(float64(sigmoid32(p) - t)))
}

// edges returns the bin edges of the reference.
func (r *refGHM) edges() []float32 {
	m := r.bins
	e := make([]float32, m+1)
	for i := range e {
		e[i] = float32(i) / float32(m)
	}
	if r.regression {
		e[m] = 1e3
	} else {
		e[m] += 1e-6
	}
	return e
}

// beta returns the per-entry weights and tot of one call, updating acc. g,
// when not nil, gives the gradient norms (so that a test can bin exactly the
// values the graph computed, which may differ from a float64 sigmoid by an
// ulp).
func (r *refGHM) beta(pred, target, weight, g []float32) (beta []float32, tot float32) {
	n := len(pred)
	if g == nil {
		g = make([]float32, n)
		for i := range n {
			g[i] = r.gradNorm(pred[i], target[i])
		}
	}
	if r.regression {
		var s float32
		for _, w := range weight {
			s += w
		}
		tot = max(s, 1)
	} else {
		c := 0
		for _, w := range weight {
			if w > 0 {
				c++
			}
		}
		tot = max(float32(c), 1)
	}
	edges := r.edges()
	beta = make([]float32, n)
	nonEmpty := 0
	for i := range r.bins {
		var sel []int
		for e := range n {
			if weight[e] > 0 && edges[i] <= g[e] && g[e] < edges[i+1] {
				sel = append(sel, e)
			}
		}
		if len(sel) == 0 {
			continue
		}
		var b float32
		if r.momentum > 0 {
			r.acc[i] = r.momentum*r.acc[i] + float32((1-float64(r.momentum))*float64(len(sel)))
			b = tot / r.acc[i]
		} else {
			b = tot / float32(len(sel))
		}
		for _, e := range sel {
			beta[e] = b
		}
		nonEmpty++
	}
	div := float32(nonEmpty)
	if r.paperNorm && nonEmpty > 0 {
		div = float32(r.bins)
	}
	if nonEmpty > 0 {
		for i := range beta {
			beta[i] /= div
			if r.maxWeight > 0 {
				beta[i] = min(beta[i], r.maxWeight)
			}
		}
	}
	return beta, tot
}

// step runs one call: the loss, its gradient with respect to pred, and the
// per-entry weights (g as for beta).
func (r *refGHM) step(pred, target, weight, g []float32) (loss float64, grad, beta []float32) {
	beta, tot := r.beta(pred, target, weight, g)
	grad = make([]float32, len(pred))
	var sum float64
	for i := range pred {
		if beta[i] == 0 {
			continue
		}
		x, t := float64(pred[i]), float64(target[i])
		if r.regression {
			d := x - t
			mu := float64(r.mu)
			sum += float64(beta[i]) * (math.Sqrt(d*d+mu*mu) - mu)
			grad[i] = float32(float64(r.lossWeight) * float64(beta[i]) * d / math.Sqrt(d*d+mu*mu) / float64(tot))
		} else {
			bce := math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x)))
			sum += float64(beta[i]) * bce
			grad[i] = float32(float64(r.lossWeight) * float64(beta[i]) * (float64(sigmoid32(pred[i])) - t) / float64(tot))
		}
	}
	return float64(r.lossWeight) * sum / float64(tot), grad, beta
}
