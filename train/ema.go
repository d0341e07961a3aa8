package train

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/ml/model"
)

// HasEMA reports whether store holds weight averages (OptimizerConfig.EMADecay).
func HasEMA(store *model.Store) bool {
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), EMAScope+"/") {
			return true
		}
	}
	return false
}

// EMAView returns a new store holding the variables of store under the scope
// prefix (e.g. "/detector"), each with the value of its weight average when
// store has one and its own value otherwise (frozen and non-trainable
// variables, such as normalisation statistics). The values are shared, not
// copied: the view is for inference and must not be trained. Without any
// average, ok is false and the view holds the variables' own values.
func EMAView(store *model.Store, prefix string) (view *model.Store, ok bool, err error) {
	view = model.NewStore()
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	for v := range store.IterVariables() {
		p := v.Path()
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		src := v
		if e := store.GetVariable(EMAPath(p)); e != nil {
			src, ok = e, true
		}
		val, err := src.Value()
		if err != nil {
			return nil, false, fmt.Errorf("weight average view: %s: %w", src.Path(), err)
		}
		scopePath, name := model.SplitPath(p)
		view.Scope(scopePath).VariableWithValue(name, val).SetTrainable(v.Trainable)
	}
	return view, ok, nil
}
