package detector

import (
	"fmt"
	"strings"

	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/internal/inference"
)

// ResolveCheckpoint turns a checkpoint file or a run directory into a
// checkpoint path: for a directory, weights/best.ckpt when it exists, else
// weights/last.ckpt.
func ResolveCheckpoint(path string) (string, error) {
	return inference.ResolveCheckpoint(path)
}

// LoadModel reads a checkpoint (or a run directory's best checkpoint) and
// returns its configuration and a store holding the network's variables as
// inference runs them: the weight averages in place of the weights when the
// run kept them (optimizer.ema_decay > 0), as evaluation during training,
// predict, serve and the detect package do.
func LoadModel(path string) (Config, *mlmodel.Store, error) {
	ck, err := inference.OpenCheckpoint(path)
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := ParseConfig(ck.ConfigName(), []byte(ck.Meta.Config), "cpu")
	if err != nil {
		return Config{}, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	store, err := ck.LoadInferenceVariables()
	if err != nil {
		return Config{}, nil, err
	}
	return cfg, store, nil
}

// ClassMismatchError reports a model and a dataset whose classes differ:
// in number, or in names or order. A model's class k is the dataset's class
// k, so either would mislabel every detection.
type ClassMismatchError struct {
	// Model and Data are the class names of the model and of the dataset,
	// in class order.
	Model, Data []string
}

// Error lists both class lists and the first difference.
func (e *ClassMismatchError) Error() string {
	var b strings.Builder
	if len(e.Model) != len(e.Data) {
		fmt.Fprintf(&b, "the model has %d classes but the dataset has %d", len(e.Model), len(e.Data))
	} else {
		b.WriteString("the model's class names differ from the dataset's")
		for k := range e.Model {
			if e.Model[k] != e.Data[k] {
				fmt.Fprintf(&b, " (class %d is %q in the model, %q in the dataset)", k, e.Model[k], e.Data[k])
				break
			}
		}
	}
	fmt.Fprintf(&b, ":\n  model:   %s\n  dataset: %s", quoteList(e.Model), quoteList(e.Data))
	return b.String()
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// CheckClasses checks that a model with configuration cfg can be run on ds
// and its detections scored against ds's boxes: the model's class k must be
// the dataset's class k. It compares the numbers of classes and, unless
// byPosition is set, the class names in order (exactly, case included). A
// model whose configuration names no class (cfg.Classes empty) is compared
// by number only. The error is a *ClassMismatchError.
func CheckClasses(cfg Config, ds *data.Dataset, byPosition bool) error {
	model := cfg.ClassNames()
	byPosition = byPosition || len(cfg.Classes) == 0
	mismatch := len(model) != len(ds.Classes)
	for k := 0; !mismatch && !byPosition && k < len(model); k++ {
		mismatch = model[k] != ds.Classes[k]
	}
	if mismatch {
		return &ClassMismatchError{Model: model, Data: append([]string(nil), ds.Classes...)}
	}
	return nil
}
