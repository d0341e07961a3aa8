package train

import (
	"math"
	"testing"
)

func TestScheduleLR(t *testing.T) {
	def := DefaultSchedule()
	byIter := DefaultSchedule()
	byIter.By, byIter.Steps, byIter.Warmup = ByIter, []int{100, 200}, WarmupNone
	cosine := DefaultSchedule()
	cosine.Policy, cosine.By, cosine.MinLRRatio, cosine.Warmup = PolicyCosine, ByIter, 0.1, WarmupNone
	cosineEpoch := cosine
	cosineEpoch.By = ByEpoch
	constWarm := DefaultSchedule()
	constWarm.Warmup, constWarm.WarmupIters, constWarm.WarmupRatio = WarmupConstant, 100, 0.001
	expWarm := DefaultSchedule()
	expWarm.Warmup, expWarm.WarmupIters, expWarm.WarmupRatio = WarmupExp, 100, 0.01
	constant := DefaultSchedule()
	constant.Policy = PolicyConstant

	const base = 0.01
	cases := []struct {
		name string
		cfg  ScheduleConfig
		p    Progress
		want float64
	}{
		// Linear warm-up from lr/3 over 500 iterations (mmcv formula).
		{"warmup start", def, Progress{Iter: 0}, 0.01 / 3},
		{"warmup middle", def, Progress{Iter: 250}, 0.01 * 2 / 3},
		{"warmup last", def, Progress{Iter: 499}, 0.01 * (1 - 2.0/3/500)},
		{"warmup done", def, Progress{Iter: 500}, 0.01},
		// Step decay after 8 and 11 complete epochs (0-based epoch >= milestone).
		{"epoch 7", def, Progress{Iter: 9000, Epoch: 7}, 0.01},
		{"epoch 8", def, Progress{Iter: 9001, Epoch: 8}, 0.001},
		{"epoch 10", def, Progress{Iter: 12000, Epoch: 10}, 0.001},
		{"epoch 11", def, Progress{Iter: 13000, Epoch: 11}, 0.0001},
		{"decay during warmup", def, Progress{Iter: 100, Epoch: 8}, 0.001 * (1 - 0.8*2.0/3)},
		{"by iter before", byIter, Progress{Iter: 99}, 0.01},
		{"by iter at", byIter, Progress{Iter: 100}, 0.001},
		{"by iter second", byIter, Progress{Iter: 250, Epoch: 0}, 0.0001},
		{"cosine start", cosine, Progress{Iter: 0, MaxIters: 100}, 0.01},
		{"cosine middle", cosine, Progress{Iter: 50, MaxIters: 100}, 0.0055},
		{"cosine quarter", cosine, Progress{Iter: 25, MaxIters: 100}, 0.001 + 0.009*(1+math.Sqrt(0.5))/2},
		{"cosine end", cosine, Progress{Iter: 100, MaxIters: 100}, 0.001},
		{"cosine past end", cosine, Progress{Iter: 150, MaxIters: 100}, 0.001},
		{"cosine by epoch", cosineEpoch, Progress{Iter: 7, Epoch: 6, MaxEpochs: 12}, 0.0055},
		{"constant warmup", constWarm, Progress{Iter: 10}, 0.01 * 0.001},
		{"constant warmup done", constWarm, Progress{Iter: 100}, 0.01},
		{"exp warmup start", expWarm, Progress{Iter: 0}, 0.01 * 0.01},
		{"exp warmup middle", expWarm, Progress{Iter: 50}, 0.01 * 0.1},
		{"constant policy", constant, Progress{Iter: 100000, Epoch: 50}, 0.01},
	}
	for _, tc := range cases {
		if err := tc.cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := tc.cfg.LR(base, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LR(%v) = %.12g, want %.12g", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*ScheduleConfig)
	}{
		{"policy", func(c *ScheduleConfig) { c.Policy = "poly" }},
		{"by", func(c *ScheduleConfig) { c.By = "step" }},
		{"warmup", func(c *ScheduleConfig) { c.Warmup = "quadratic" }},
		{"unsorted steps", func(c *ScheduleConfig) { c.Steps = []int{11, 8} }},
		{"gamma", func(c *ScheduleConfig) { c.Gamma = 0 }},
		{"warmup ratio", func(c *ScheduleConfig) { c.WarmupRatio = 0 }},
		{"warmup iters", func(c *ScheduleConfig) { c.WarmupIters = -1 }},
		{"min lr ratio", func(c *ScheduleConfig) { c.Policy, c.MinLRRatio = PolicyCosine, 2 }},
	}
	for _, tc := range cases {
		c := DefaultSchedule()
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", tc.name)
		}
	}
}
