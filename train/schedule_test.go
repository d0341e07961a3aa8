package train

import (
	"math"
	"slices"
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

// TestRescaleSteps checks that milestones keep their fractions of a
// re-planned run and that milestones already in effect never move.
func TestRescaleSteps(t *testing.T) {
	cases := []struct {
		name           string
		base           []int
		baseTotal, tot int
		current        []int
		done           int
		want           []int
	}{
		{"reference lengthened", []int{8, 11}, 12, 20, []int{8, 11}, 1, []int{13, 18}},
		{"cpu lengthened", []int{16, 22}, 24, 31, []int{16, 22}, 1, []int{21, 28}},
		{"cpu shortened", []int{16, 22}, 24, 10, []int{16, 22}, 3, []int{7, 9}},
		{"unchanged length", []int{16, 22}, 24, 24, []int{16, 22}, 5, []int{16, 22}},
		// The first milestone (13) is in effect since epoch 13: it stays
		// when the plan grows or shrinks.
		{"past frozen, grows", []int{8, 11}, 12, 30, []int{13, 18}, 14, []int{13, 28}},
		{"past frozen, shrinks", []int{8, 11}, 12, 16, []int{13, 18}, 14, []int{13, 15}},
		// Never into the past: 11*10/12 rounds to 9, the next epoch.
		{"not before done", []int{8, 11}, 12, 10, []int{8, 11}, 9, []int{8, 9}},
		{"both at done", []int{8, 11}, 12, 6, []int{8, 11}, 5, []int{5, 6}},
		// A milestone equal to done is not in effect yet: it may move.
		{"at done moves", []int{8, 11}, 12, 24, []int{5, 9}, 5, []int{16, 22}},
		{"no base total", []int{8, 11}, 0, 24, []int{8, 11}, 5, []int{8, 11}},
		{"iterations", []int{800, 1100}, 1200, 600, []int{800, 1100}, 350, []int{400, 550}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := append([]int(nil), c.current...)
			got := RescaleSteps(c.base, c.baseTotal, c.tot, cur, c.done)
			if !slices.Equal(got, c.want) {
				t.Errorf("RescaleSteps(%v, %d, %d, %v, %d) = %v, want %v", c.base, c.baseTotal, c.tot, c.current, c.done, got, c.want)
			}
			if !slices.Equal(cur, c.current) {
				t.Errorf("the current milestones were modified: %v", cur)
			}
		})
	}
}
