package study

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/eval"
)

// RunResult is what a finished run of the study records
// (RUN_DIR/study_result.json): the final evaluation of its last checkpoint
// on the study's evaluation data, the training it had, and the
// gradient-norm distribution of the model.
type RunResult struct {
	Setting string       `json:"setting"`
	Values  []Assignment `json:"values"`
	Seed    int64        `json:"seed"`
	// Dir is the run directory, relative to the study folder.
	Dir string `json:"dir"`
	// Checkpoint is the evaluated checkpoint, relative to Dir.
	Checkpoint string `json:"checkpoint"`
	EvalData   string `json:"eval_data"`
	EvalImages int    `json:"eval_images"`
	// Stats are the 12 COCO numbers (eval.StatNames order; -1: undefined).
	Stats     [12]float64 `json:"stats"`
	StatNames [12]string  `json:"stat_names"`
	// APByIoU is the AP at each IoU threshold 0.50, 0.55, ..., 0.95.
	APByIoU []float64 `json:"ap_by_iou"`
	// Classes are the per-class numbers, in the model's class order.
	Classes []ClassResult `json:"classes"`
	// Training: epochs and steps trained, why it stopped, the training
	// time summed over its sessions (steps and data loading), and the time
	// budget's use when it had one.
	Epochs     int          `json:"epochs"`
	Steps      int          `json:"steps"`
	Stopped    string       `json:"stopped"`
	TrainTimeS float64      `json:"train_time_s"`
	Sessions   int          `json:"sessions"`
	Budget     *BudgetUsage `json:"budget,omitempty"`
	// EvalTimeS is the time of the final evaluation.
	EvalTimeS float64 `json:"eval_time_s"`
	// GradNorm is the gradient-norm distribution of the final model on
	// the evaluation data (the GHM paper's Figure 2).
	GradNorm *detector.GradNormAnalysis `json:"grad_norm,omitempty"`
	Finished string                     `json:"finished"`
}

// ClassResult is one class's final numbers.
type ClassResult struct {
	Name string `json:"name"`
	// TrainBoxes counts the class's boxes in the training data.
	TrainBoxes int     `json:"train_boxes"`
	EvalBoxes  int     `json:"eval_boxes"`
	AP         float64 `json:"ap"`
	AP50       float64 `json:"ap50"`
	AP75       float64 `json:"ap75"`
}

// BudgetUsage is the time budget's use by a run.
type BudgetUsage struct {
	Budget        string  `json:"budget"`
	UsedS         float64 `json:"used_s"`
	PlannedEpochs int     `json:"planned_epochs"`
}

// trained is the record written when a run's training is over
// (RUN_DIR/study_trained.json), so that a study stopped during the final
// evaluation evaluates again without touching the training.
type trained struct {
	Epochs     int          `json:"epochs"`
	Steps      int          `json:"steps"`
	Stopped    string       `json:"stopped"`
	TrainTimeS float64      `json:"train_time_s"`
	Sessions   int          `json:"sessions"`
	ImagesPerS float64      `json:"images_per_s"`
	Budget     *BudgetUsage `json:"budget,omitempty"`
}

// summary rebuilds the run summary the run report shows.
func (t *trained) summary(dir string) *detector.Summary {
	return &detector.Summary{Dir: dir, Steps: t.Steps, Epochs: t.Epochs, Stopped: t.Stopped,
		TrainTime: time.Duration(t.TrainTimeS * float64(time.Second)), ImagesPerSec: t.ImagesPerS, BestAP: -1, BestEpoch: -1}
}

// newResult fills a RunResult from an evaluation.
func newResult(j *job, res *eval.Result, evalName string, evalImages int, train, evalData *DataInfo, tr *trained) *RunResult {
	r := &RunResult{
		Setting: j.Setting.Name, Values: j.Setting.Values, Seed: j.Seed, Dir: filepath.ToSlash(j.Dir),
		Checkpoint: filepath.ToSlash(filepath.Join(detector.WeightsDir, detector.LastCkpt)),
		EvalData:   evalName, EvalImages: evalImages,
		Stats: res.Stats, StatNames: eval.StatNames, APByIoU: res.APByIoU(),
		Epochs: tr.Epochs, Steps: tr.Steps, Stopped: tr.Stopped, TrainTimeS: tr.TrainTimeS, Sessions: tr.Sessions,
		Budget: tr.Budget, Finished: time.Now().UTC().Format(time.RFC3339),
	}
	// The evaluator lists categories by ascending id; the model's class k
	// is the data's category id k.
	byName := map[string]eval.CategoryResult{}
	for _, c := range res.PerCategory {
		byName[c.Name] = c
	}
	for k, name := range train.Classes {
		c := ClassResult{Name: name, TrainBoxes: train.BoxesPerClass[k], AP: -1, AP50: -1, AP75: -1}
		if k < len(evalData.BoxesPerClass) {
			c.EvalBoxes = evalData.BoxesPerClass[k]
		}
		if cr, ok := byName[name]; ok {
			c.AP, c.AP50, c.AP75 = cr.AP, cr.AP50, cr.AP75
		}
		r.Classes = append(r.Classes, c)
	}
	return r
}

// sessionsTrainTime sums the training time of the sessions of a run (its
// run.json and a run-resumed-*.json per resumed session, each written when
// its session ended) and counts them.
func sessionsTrainTime(dir string) (float64, int) {
	files, _ := filepath.Glob(filepath.Join(dir, "run-resumed-*.json"))
	files = append([]string{filepath.Join(dir, detector.RunInfoFile)}, files...)
	total, n := 0.0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var info struct {
			Result *struct {
				TrainTimeS float64 `json:"train_time_s"`
			} `json:"result"`
		}
		if json.Unmarshal(raw, &info) != nil || info.Result == nil {
			continue
		}
		total += info.Result.TrainTimeS
		n++
	}
	return total, n
}

// readResult reads a run's result; a missing file gives (nil, nil).
func readResult(path string) (*RunResult, error) {
	var r RunResult
	if err := readJSONFile(path, &r); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return &r, nil
}

// collectResults reads every run result under the study folder
// (DIR/SETTING/seed-N/study_result.json), sorted by setting folder and
// seed.
func collectResults(dir string) ([]*RunResult, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "seed-*", ResultFile))
	if err != nil {
		return nil, err
	}
	var out []*RunResult
	for _, f := range files {
		r, err := readResult(f)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Setting != out[b].Setting {
			return strings.Compare(out[a].Setting, out[b].Setting) < 0
		}
		return out[a].Seed < out[b].Seed
	})
	return out, nil
}
