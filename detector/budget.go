package detector

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keys of the training plan in a checkpoint's metadata (train.Meta.Extra),
// written when a run has a time budget (or resumed one that had).
const (
	metaPlanEpochs = "plan_epochs"
	metaPlanSteps  = "plan_steps"
	metaBudgetUsed = "budget_used"
	metaEvalTime   = "eval_time"
	metaEpochTime  = "epoch_time"
	metaBudget     = "budget"
	metaMaxEpochs  = "max_epochs"
)

// maxPlanEpochs bounds the epochs a time budget may plan (a guard against
// absurd estimates, far above any real run).
const maxPlanEpochs = 100000

// BudgetUse reports how a run used its time budget (Summary.Budget).
type BudgetUse struct {
	// Budget is the time budget (Config.Train.TimeBudget).
	Budget time.Duration
	// Used is the wall time the run spent (training, evaluations,
	// checkpoints), over all its sessions when it was resumed.
	Used time.Duration
	// ConfigEpochs is the configuration's epoch count, PlannedEpochs the
	// length the budget planned last, Epochs the complete epochs trained and
	// MaxEpochs the cap given explicitly (0: none).
	ConfigEpochs, PlannedEpochs, Epochs, MaxEpochs int
	// Milestones are the learning-rate milestones of the last plan, in the
	// unit of Config.Schedule.By.
	Milestones []int
}

// String describes the use in one line, e.g. "time budget 20m0s: used
// 19m41s; epochs: 31 planned (configuration 24), 31 trained".
func (u *BudgetUse) String() string {
	s := fmt.Sprintf("time budget %s: used %s; epochs: %d planned (configuration %d", u.Budget, u.Used.Round(time.Second), u.PlannedEpochs, u.ConfigEpochs)
	if u.MaxEpochs > 0 {
		s += fmt.Sprintf(", at most %d", u.MaxEpochs)
	}
	return s + fmt.Sprintf("), %d trained", u.Epochs)
}

// budgetPlan is the length of a run under a time budget: its planned epochs
// and learning-rate milestones, with what the planner remembers across a
// resume.
type budgetPlan struct {
	// Epochs is the planned number of epochs, Steps the schedule's step
	// milestones for that length.
	Epochs int
	Steps  []int
	// Used is the wall time of the run's earlier sessions.
	Used time.Duration
	// EvalTime is the duration of the last evaluation (0: none measured)
	// and EpochTime the estimated time of an epoch at the last re-planning
	// (0: none yet).
	EvalTime, EpochTime time.Duration
	// Budget is the time budget the plan was made for.
	Budget time.Duration
	// MaxEpochs caps Epochs (0: no cap).
	MaxEpochs int
}

// extra returns the plan as checkpoint metadata, used being the budget
// used so far.
func (p *budgetPlan) extra(used time.Duration) map[string]string {
	steps := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		steps[i] = strconv.Itoa(s)
	}
	return map[string]string{
		metaPlanEpochs: strconv.Itoa(p.Epochs),
		metaPlanSteps:  strings.Join(steps, ","),
		metaBudgetUsed: used.String(),
		metaEvalTime:   p.EvalTime.String(),
		metaEpochTime:  p.EpochTime.String(),
		metaBudget:     p.Budget.String(),
		metaMaxEpochs:  strconv.Itoa(p.MaxEpochs),
	}
}

// restore reads a plan written by extra. It reports false, leaving p
// unchanged, when the metadata holds no plan (the run had no budget).
func (p *budgetPlan) restore(extra map[string]string) (bool, error) {
	e, ok := extra[metaPlanEpochs]
	if !ok {
		return false, nil
	}
	var q budgetPlan
	var err error
	bad := func(key string, err error) (bool, error) {
		return false, fmt.Errorf("checkpoint plan %s=%q: %w", key, extra[key], err)
	}
	if q.Epochs, err = strconv.Atoi(e); err != nil || q.Epochs < 0 {
		return bad(metaPlanEpochs, errOr(err, "negative"))
	}
	if s := extra[metaPlanSteps]; s != "" {
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(f)
			if err != nil {
				return bad(metaPlanSteps, err)
			}
			q.Steps = append(q.Steps, v)
		}
	}
	if !slices.IsSorted(q.Steps) {
		return bad(metaPlanSteps, fmt.Errorf("not in increasing order"))
	}
	if q.Used, err = time.ParseDuration(extra[metaBudgetUsed]); err != nil || q.Used < 0 {
		return bad(metaBudgetUsed, errOr(err, "negative"))
	}
	for _, kd := range []struct {
		key string
		d   *time.Duration
	}{{metaEvalTime, &q.EvalTime}, {metaEpochTime, &q.EpochTime}, {metaBudget, &q.Budget}} {
		key, d := kd.key, kd.d
		if s := extra[key]; s != "" {
			if *d, err = time.ParseDuration(s); err != nil || *d < 0 {
				return bad(key, errOr(err, "negative"))
			}
		}
	}
	if s := extra[metaMaxEpochs]; s != "" {
		if q.MaxEpochs, err = strconv.Atoi(s); err != nil || q.MaxEpochs < 0 {
			return bad(metaMaxEpochs, errOr(err, "negative"))
		}
	}
	*p = q
	return true, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", msg)
}

// budgetEstimate is what the planner expects the rest of a run to cost.
type budgetEstimate struct {
	// Epoch is one training epoch: its steps at the measured time per step
	// (the steps that compiled a graph excluded) and its other work
	// (checkpoint, data loader start).
	Epoch time.Duration
	// Eval is one evaluation of the validation data (0 without one).
	Eval time.Duration
}

// evalsAhead counts the evaluations a run planned for total epochs still
// does once done epochs are trained and before the evaluation of epoch done:
// every epoch k in [done, total] with k%evalEvery == 0, and the last one.
func evalsAhead(done, total, evalEvery int) int {
	if total < done {
		return 0
	}
	n := 1 // the final evaluation
	if evalEvery > 0 {
		n += total/evalEvery - (done-1)/evalEvery
		if total%evalEvery == 0 {
			n-- // the final one is among the multiples
		}
	}
	return n
}

// planCost is the time the rest of a run planned for total epochs takes
// once done epochs are trained: the epochs still to train and the
// evaluations still to run (withVal: the run evaluates).
func planCost(done, total int, est budgetEstimate, evalEvery int, withVal bool) time.Duration {
	c := time.Duration(total-done) * est.Epoch
	if withVal {
		c += time.Duration(evalsAhead(done, total, evalEvery)) * est.Eval
	}
	return c
}

// fitEpochs returns the largest total number of epochs, at least done and at
// most maxEpochs (when > 0), whose remaining work (planCost) fits into the
// remaining time; done when nothing more fits. est.Epoch must be positive.
func fitEpochs(done int, remaining time.Duration, est budgetEstimate, evalEvery int, withVal bool, maxEpochs int) int {
	hi := done
	if remaining > 0 {
		hi = done + int(min(remaining/est.Epoch, maxPlanEpochs))
	}
	if maxEpochs > 0 {
		hi = min(hi, maxEpochs)
	}
	for hi > done && planCost(done, hi, est, evalEvery, withVal) > remaining {
		hi--
	}
	return max(hi, done)
}
