package study

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/internal/atomicfile"
)

// Files of a study folder.
const (
	ManifestFile = "study.json"
	ResultFile   = "study_result.json"  // in each run directory: the run's evaluation
	TrainedFile  = "study_trained.json" // in each run directory: training is over
	DetsFile     = "study_detections.json"
	ReportBase   = "study" // study.md, study.html
	RunsCSV      = "study.csv"
	SummaryCSV   = "study_summary.csv"
	ResultsJSON  = "study_results.json"
)

// manifestVersion is the version of the manifest format.
const manifestVersion = 1

// Spec defines a study: its grid, seeds, fixed settings and run length.
type Spec struct {
	// Axes are the varied keys and their values.
	Axes []Axis `json:"axes"`
	// Set are configuration values fixed for every run (applied before the
	// grid's).
	Set []Assignment `json:"set,omitempty"`
	// Seeds are the seeds every setting is trained with (the run's seed:
	// weight initialisation, data order and augmentation).
	Seeds []int64 `json:"seeds"`
	// Epochs, when > 0, is the length of every run (the learning-rate
	// decays kept at the same fractions of the run, as ghmdet train
	// --epochs does); 0 keeps the configuration's.
	Epochs int `json:"epochs,omitempty"`
	// TimeBudget, when set, gives every run this training time instead
	// (Go duration, such as "10m"; Epochs then caps the epochs).
	TimeBudget string `json:"time_budget,omitempty"`
	// Baseline picks, by axis values, the setting every other one is
	// compared with (the first value of the first axis by default). It
	// changes the report only.
	Baseline []Assignment `json:"baseline,omitempty"`
}

// DataInfo describes a dataset in the manifest: enough to tell whether a
// rerun uses the same data.
type DataInfo struct {
	Name    string   `json:"name"`
	Images  int      `json:"images"`
	Boxes   int      `json:"boxes"`
	Classes []string `json:"classes"`
	// BoxesPerClass counts the boxes of each class (the rarest classes of
	// the training data are reported on their own).
	BoxesPerClass []int `json:"boxes_per_class"`
}

// describe returns the DataInfo of ds (nil for nil).
func describe(ds *data.Dataset) *DataInfo {
	if ds == nil {
		return nil
	}
	d := &DataInfo{Name: ds.Name, Images: len(ds.Images), Boxes: ds.NumObjects(),
		Classes: append([]string(nil), ds.Classes...), BoxesPerClass: make([]int, len(ds.Classes))}
	for _, im := range ds.Images {
		for _, o := range im.Objects {
			if o.Class >= 0 && o.Class < len(d.BoxesPerClass) {
				d.BoxesPerClass[o.Class]++
			}
		}
	}
	return d
}

// sameData reports whether a and b describe the same data (names aside: a
// folder may be mounted elsewhere on another machine).
func sameData(a, b *DataInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Images == b.Images && a.Boxes == b.Boxes && reflect.DeepEqual(a.Classes, b.Classes) &&
		reflect.DeepEqual(a.BoxesPerClass, b.BoxesPerClass)
}

// Manifest is the record of a study (DIR/study.json): what a rerun, a shard
// or the report needs to know about it.
type Manifest struct {
	Version int  `json:"version"`
	Spec    Spec `json:"spec"`
	// BaseConfig is the configuration every run starts from (preset,
	// --config file, flags, Spec.Set and the run length), as YAML.
	BaseConfig string `json:"base_config"`
	// Train, Val and Eval describe the training data, the validation data
	// evaluated during training (nil without) and the data of the final
	// evaluation; EvalName says where the latter comes from.
	Train    *DataInfo `json:"train"`
	Val      *DataInfo `json:"val,omitempty"`
	Eval     *DataInfo `json:"eval"`
	EvalName string    `json:"eval_name"`
	// Checkpoint is the checkpoint of each run that is evaluated.
	Checkpoint string `json:"checkpoint"`
	Created    string `json:"created"`
	Ghmdet     string `json:"ghmdet"`
}

// readManifest reads dir/study.json; a missing file gives (nil, nil).
func readManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("study manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("study manifest %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("study manifest %s: version %d, this ghmdet reads version %d", filepath.Join(dir, ManifestFile), m.Version, manifestVersion)
	}
	return &m, nil
}

// ReadManifest reads the manifest of the study in dir.
func ReadManifest(dir string) (*Manifest, error) {
	m, err := readManifest(dir)
	if err == nil && m == nil {
		err = fmt.Errorf("%s: not a study folder (no %s)", dir, ManifestFile)
	}
	return m, err
}

// write writes the manifest atomically.
func (m *Manifest) write(dir string) error {
	return writeJSONFile(filepath.Join(dir, ManifestFile), m)
}

// differences lists what differs between the study m records and next,
// the baseline and the record's dates and version aside.
func (m *Manifest) differences(next *Manifest) []string {
	var out []string
	diff := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s: %s, now %s", what, show(a), show(b)))
		}
	}
	diff("grid (--vary)", m.Spec.Axes, next.Spec.Axes)
	diff("seeds", m.Spec.Seeds, next.Spec.Seeds)
	diff("fixed settings (--set)", m.Spec.Set, next.Spec.Set)
	diff("epochs", m.Spec.Epochs, next.Spec.Epochs)
	diff("time budget", m.Spec.TimeBudget, next.Spec.TimeBudget)
	if m.BaseConfig != next.BaseConfig {
		out = append(out, "base configuration (preset, --config file, flags): "+firstLineDiff(m.BaseConfig, next.BaseConfig))
	}
	for _, d := range []struct {
		what string
		a, b *DataInfo
	}{{"training data", m.Train, next.Train}, {"validation data", m.Val, next.Val}, {"evaluation data", m.Eval, next.Eval}} {
		if !sameData(d.a, d.b) {
			out = append(out, fmt.Sprintf("%s: %s, now %s", d.what, d.a, d.b))
		}
	}
	return out
}

// String describes the data in one line ("none" for nil).
func (d *DataInfo) String() string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%d images, %d boxes, classes %v)", d.Name, d.Images, d.Boxes, d.Classes)
}

// show formats a manifest field for a difference message.
func show(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// firstLineDiff names the first line where two texts differ.
func firstLineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d was %q, now %q", i+1, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return "the same text"
}

// writeJSONFile writes v as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(raw, '\n'), 0o644)
}

// readJSONFile reads a JSON file into v.
func readJSONFile(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
