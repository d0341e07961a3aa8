package train

import (
	"fmt"
	"math"
	"slices"
)

// Learning-rate policies accepted by ScheduleConfig.Policy.
const (
	// PolicyStep multiplies the rate by Gamma at each milestone of Steps.
	PolicyStep = "step"
	// PolicyCosine anneals the rate from the base to MinLRRatio*base along a
	// half cosine.
	PolicyCosine = "cosine"
	// PolicyConstant keeps the base rate (after warm-up).
	PolicyConstant = "constant"
)

// Warm-up kinds accepted by ScheduleConfig.Warmup.
const (
	// WarmupLinear ramps linearly from WarmupRatio*lr to lr.
	WarmupLinear = "linear"
	// WarmupConstant uses WarmupRatio*lr during the warm-up.
	WarmupConstant = "constant"
	// WarmupExp ramps exponentially: lr*WarmupRatio^(1-iter/WarmupIters).
	WarmupExp = "exp"
	// WarmupNone disables the warm-up.
	WarmupNone = "none"
)

// Units for ScheduleConfig.By.
const (
	// ByEpoch counts milestones and cosine progress in epochs.
	ByEpoch = "epoch"
	// ByIter counts them in iterations.
	ByIter = "iter"
)

// ScheduleConfig is the learning-rate schedule, with mmcv's (mmdetection's)
// LrUpdaterHook semantics. Start from DefaultSchedule and override fields.
//
// The rate at a given progress is computed in two stages:
//
//  1. the regular rate of the policy, from the base rate lr:
//     step:     lr * Gamma^k, k = number of milestones m in Steps with
//     unit >= m, where unit is the 0-based epoch (By "epoch") or the
//     0-based iteration (By "iter"); with Steps [8, 11] in epochs the
//     rate drops after 8 and after 11 complete epochs;
//     cosine:   min + (lr-min)*(1+cos(pi*unit/max))/2, min = MinLRRatio*lr,
//     max = MaxEpochs or MaxIters of the Progress;
//     constant: lr.
//  2. the warm-up, while the 0-based iteration it < WarmupIters, scales the
//     regular rate r:
//     linear:   r * (1 - (1 - it/WarmupIters) * (1 - WarmupRatio));
//     constant: r * WarmupRatio;
//     exp:      r * WarmupRatio^(1 - it/WarmupIters).
//
// So with the defaults the first update (it = 0) uses lr/3, and the rate
// reaches lr at it = WarmupIters = 500.
type ScheduleConfig struct {
	// Policy is "step" (default), "cosine" or "constant".
	Policy string `yaml:"policy" json:"policy"`
	// By is the unit of Steps and of the cosine progress: "epoch" (default)
	// or "iter".
	By string `yaml:"by" json:"by"`
	// Steps are the step-decay milestones, in units of By (default [8, 11]).
	Steps []int `yaml:"steps" json:"steps"`
	// Gamma is the step-decay factor (default 0.1).
	Gamma float64 `yaml:"gamma" json:"gamma"`
	// MinLRRatio is the final rate of the cosine policy, as a fraction of the
	// base rate (default 0).
	MinLRRatio float64 `yaml:"min_lr_ratio" json:"min_lr_ratio"`
	// Warmup is "linear" (default), "constant", "exp" or "none".
	Warmup string `yaml:"warmup" json:"warmup"`
	// WarmupIters is the length of the warm-up in iterations (default 500).
	WarmupIters int `yaml:"warmup_iters" json:"warmup_iters"`
	// WarmupRatio is the starting fraction of the rate (default 1/3).
	WarmupRatio float64 `yaml:"warmup_ratio" json:"warmup_ratio"`
}

// DefaultSchedule returns the reference "1x" schedule: linear warm-up over
// 500 iterations from lr/3, then lr x 0.1 after epochs 8 and 11.
func DefaultSchedule() ScheduleConfig {
	return ScheduleConfig{
		Policy:      PolicyStep,
		By:          ByEpoch,
		Steps:       []int{8, 11},
		Gamma:       0.1,
		Warmup:      WarmupLinear,
		WarmupIters: 500,
		WarmupRatio: 1.0 / 3,
	}
}

// Progress locates a training step for the schedule. Iter is the 0-based
// iteration (the number of updates done before this one) and Epoch the
// 0-based epoch; MaxIters and MaxEpochs are the run's totals (needed by the
// cosine policy only).
type Progress struct {
	Iter, Epoch         int
	MaxIters, MaxEpochs int
}

// Validate reports the first invalid field.
func (c ScheduleConfig) Validate() error {
	switch c.Policy {
	case PolicyStep, PolicyCosine, PolicyConstant:
	default:
		return fmt.Errorf("schedule: unknown policy %q (want %q, %q or %q)", c.Policy, PolicyStep, PolicyCosine, PolicyConstant)
	}
	switch c.By {
	case ByEpoch, ByIter:
	default:
		return fmt.Errorf("schedule: by must be %q or %q, got %q", ByEpoch, ByIter, c.By)
	}
	switch c.Warmup {
	case WarmupLinear, WarmupConstant, WarmupExp, WarmupNone:
	default:
		return fmt.Errorf("schedule: unknown warmup %q (want %q, %q, %q or %q)", c.Warmup, WarmupLinear, WarmupConstant, WarmupExp, WarmupNone)
	}
	if c.Policy == PolicyStep {
		if !slices.IsSorted(c.Steps) {
			return fmt.Errorf("schedule: steps must be in increasing order, got %v", c.Steps)
		}
		for _, s := range c.Steps {
			if s < 0 {
				return fmt.Errorf("schedule: steps must be >= 0, got %v", c.Steps)
			}
		}
		if !(c.Gamma > 0) || math.IsInf(c.Gamma, 0) {
			return fmt.Errorf("schedule: gamma must be finite and > 0, got %v", c.Gamma)
		}
	}
	if c.Policy == PolicyCosine && !(c.MinLRRatio >= 0 && c.MinLRRatio <= 1) {
		return fmt.Errorf("schedule: min_lr_ratio must be in [0, 1], got %v", c.MinLRRatio)
	}
	if c.Warmup != WarmupNone {
		if c.WarmupIters < 0 {
			return fmt.Errorf("schedule: warmup_iters must be >= 0, got %d", c.WarmupIters)
		}
		if !(c.WarmupRatio > 0 && c.WarmupRatio <= 1) {
			return fmt.Errorf("schedule: warmup_ratio must be in (0, 1], got %v", c.WarmupRatio)
		}
	}
	return nil
}

// LR returns the learning rate for the update at progress p, given the base
// rate (see ScheduleConfig for the formulas).
func (c ScheduleConfig) LR(base float64, p Progress) float64 {
	unit, maxUnit := p.Epoch, p.MaxEpochs
	if c.By == ByIter {
		unit, maxUnit = p.Iter, p.MaxIters
	}
	lr := base
	switch c.Policy {
	case PolicyStep:
		k := 0
		for _, m := range c.Steps {
			if unit >= m {
				k++
			}
		}
		lr = base * math.Pow(c.Gamma, float64(k))
	case PolicyCosine:
		frac := 0.0
		if maxUnit > 0 {
			frac = math.Min(1, float64(unit)/float64(maxUnit))
		}
		minLR := c.MinLRRatio * base
		lr = minLR + 0.5*(base-minLR)*(1+math.Cos(math.Pi*frac))
	}
	if c.Warmup == WarmupNone || p.Iter >= c.WarmupIters {
		return lr
	}
	frac := float64(p.Iter) / float64(c.WarmupIters)
	switch c.Warmup {
	case WarmupLinear:
		return lr * (1 - (1-frac)*(1-c.WarmupRatio))
	case WarmupConstant:
		return lr * c.WarmupRatio
	case WarmupExp:
		return lr * math.Pow(c.WarmupRatio, 1-frac)
	}
	return lr
}

// RescaleSteps moves step-decay milestones when a run's planned length
// changes (a time budget re-planning it), so that each milestone stays at
// the fraction of the run it was written for. base are the milestones as
// configured for a run of baseTotal units (epochs or iterations, as By
// says), current the milestones in use, total the new planned length and
// done the units already trained.
//
// The rule keeps the learning-rate history intact: a milestone of current
// below done has already lowered the rate of a trained unit and is frozen
// where it is; every other milestone moves to round(m*total/baseTotal) for
// its base value m, but never below done (the past) nor below the milestone
// before it. So a plan that grows moves the decays still ahead later, and a
// plan that shrinks moves them earlier, at the earliest to the next unit.
// current must have as many milestones as base (base when nothing was
// re-planned yet); with baseTotal <= 0 current is returned unchanged.
func RescaleSteps(base []int, baseTotal, total int, current []int, done int) []int {
	out := slices.Clone(current)
	if baseTotal <= 0 || len(base) != len(current) {
		return out
	}
	prev := 0
	for i, m := range base {
		if current[i] < done {
			prev = max(prev, current[i])
			continue
		}
		s := int(math.Round(float64(m) * float64(total) / float64(baseTotal)))
		out[i] = max(s, done, prev)
		prev = out[i]
	}
	return out
}
