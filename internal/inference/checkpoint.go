package inference

import (
	"fmt"
	"os"
	"path/filepath"

	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/train"
)

// The checkpoints of a run directory: WeightsDir/BestCkpt (the best
// evaluation) and WeightsDir/LastCkpt (the latest state).
const (
	WeightsDir = "weights"
	LastCkpt   = "last.ckpt"
	BestCkpt   = "best.ckpt"
)

// ResolveCheckpoint turns a checkpoint file or a run directory into a
// checkpoint path: for a directory, weights/best.ckpt when it exists, else
// weights/last.ckpt.
func ResolveCheckpoint(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("model: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	for _, name := range []string{BestCkpt, LastCkpt} {
		p := filepath.Join(path, WeightsDir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("model: %s holds no %s/%s or %s/%s", path, WeightsDir, BestCkpt, WeightsDir, LastCkpt)
}

// Checkpoint is a checkpoint file whose header has been read.
type Checkpoint struct {
	// Path is the checkpoint file.
	Path string
	// Meta is its header: step, epoch, versions and the run configuration.
	Meta train.Meta
}

// OpenCheckpoint resolves a checkpoint file or run directory (see
// ResolveCheckpoint) and reads the checkpoint's header, which must hold a
// run configuration. The variables are read by LoadVariables.
func OpenCheckpoint(path string) (Checkpoint, error) {
	ckpt, err := ResolveCheckpoint(path)
	if err != nil {
		return Checkpoint{}, err
	}
	meta, _, err := train.ReadMeta(ckpt)
	if err != nil {
		return Checkpoint{}, err
	}
	if meta.Config == "" {
		return Checkpoint{}, fmt.Errorf("%s: the checkpoint holds no configuration", ckpt)
	}
	return Checkpoint{Path: ckpt, Meta: meta}, nil
}

// ConfigName is the name errors give the checkpoint's configuration.
func (c Checkpoint) ConfigName() string { return c.Path + " (configuration)" }

// Spec reads the Spec of the checkpoint's configuration.
func (c Checkpoint) Spec() (Spec, error) {
	return ParseSpec(c.ConfigName(), []byte(c.Meta.Config))
}

// LoadVariables reads every variable of the checkpoint into a new store.
func (c Checkpoint) LoadVariables() (*mlmodel.Store, error) {
	store := mlmodel.NewStore()
	if _, err := train.Load(c.Path, store); err != nil {
		return nil, err
	}
	return store, nil
}

// LoadInferenceVariables reads the variables that running the model uses:
// the network's weight averages in place of its weights when the run kept
// them (optimizer.ema_decay > 0; evaluation during training uses them too),
// else the weights themselves.
func (c Checkpoint) LoadInferenceVariables() (*mlmodel.Store, error) {
	store, err := c.LoadVariables()
	if err != nil || !train.HasEMA(store) {
		return store, err
	}
	view, _, err := train.EMAView(store, "/"+ModelScope)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	return view, nil
}
