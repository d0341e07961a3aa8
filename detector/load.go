package detector

import (
	"fmt"
	"os"
	"path/filepath"

	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/train"
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

// LoadModel reads a checkpoint (or a run directory's best checkpoint) and
// returns its configuration and a store holding its variables.
func LoadModel(path string) (Config, *mlmodel.Store, error) {
	ckpt, err := ResolveCheckpoint(path)
	if err != nil {
		return Config{}, nil, err
	}
	meta, _, err := train.ReadMeta(ckpt)
	if err != nil {
		return Config{}, nil, err
	}
	if meta.Config == "" {
		return Config{}, nil, fmt.Errorf("%s: the checkpoint holds no configuration", ckpt)
	}
	cfg, err := ParseConfig(ckpt+" (configuration)", []byte(meta.Config), "cpu")
	if err != nil {
		return Config{}, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	store := mlmodel.NewStore()
	if _, err := train.Load(ckpt, store); err != nil {
		return Config{}, nil, err
	}
	return cfg, store, nil
}
