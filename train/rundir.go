package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// RunDir is the layout of a training run's folder:
//
//	<root>/config.yaml          the run configuration
//	<root>/metrics.jsonl        the JSON-lines metrics log
//	<root>/checkpoints/step-00001234.ckpt
type RunDir struct {
	// Root is the run folder.
	Root string
}

// NewRunDir creates (if needed) the run folder and its checkpoints folder.
func NewRunDir(root string) (*RunDir, error) {
	r := &RunDir{Root: root}
	if err := os.MkdirAll(r.CheckpointDir(), 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	return r, nil
}

// ConfigPath is where the run configuration is written.
func (r *RunDir) ConfigPath() string { return filepath.Join(r.Root, "config.yaml") }

// MetricsPath is the JSON-lines metrics log.
func (r *RunDir) MetricsPath() string { return filepath.Join(r.Root, "metrics.jsonl") }

// CheckpointDir is the folder of the checkpoints.
func (r *RunDir) CheckpointDir() string { return filepath.Join(r.Root, "checkpoints") }

// CheckpointPath is the checkpoint file of the given step.
func (r *RunDir) CheckpointPath(step int) string {
	return filepath.Join(r.CheckpointDir(), fmt.Sprintf("step-%08d%s", step, CheckpointExt))
}

// CheckpointFile is a checkpoint found in a run folder.
type CheckpointFile struct {
	Path string
	Step int
}

// Checkpoints lists the checkpoint files of the run, by increasing step.
// Temporary files of interrupted writes and other files are ignored.
func (r *RunDir) Checkpoints() ([]CheckpointFile, error) {
	entries, err := os.ReadDir(r.CheckpointDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var out []CheckpointFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "step-") || !strings.HasSuffix(name, CheckpointExt) {
			continue
		}
		step, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "step-"), CheckpointExt))
		if err != nil || step < 0 {
			continue
		}
		out = append(out, CheckpointFile{Path: filepath.Join(r.CheckpointDir(), name), Step: step})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// LatestCheckpoint returns the checkpoint with the highest step; ok is false
// when there is none.
func (r *RunDir) LatestCheckpoint() (cf CheckpointFile, ok bool, err error) {
	all, err := r.Checkpoints()
	if err != nil || len(all) == 0 {
		return CheckpointFile{}, false, err
	}
	return all[len(all)-1], true, nil
}

// PruneCheckpoints deletes all but the keep most recent checkpoints (keep
// <= 0 keeps all).
func (r *RunDir) PruneCheckpoints(keep int) error {
	if keep <= 0 {
		return nil
	}
	all, err := r.Checkpoints()
	if err != nil {
		return err
	}
	for i := 0; i < len(all)-keep; i++ {
		if err := os.Remove(all[i].Path); err != nil {
			return fmt.Errorf("prune checkpoints: %w", err)
		}
	}
	return nil
}
