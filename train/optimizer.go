package train

import (
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// Optimiser names accepted by OptimizerConfig.Name.
const (
	// SGD is stochastic gradient descent with (optionally Nesterov) momentum
	// and coupled (L2) weight decay, with PyTorch's torch.optim.SGD semantics.
	SGD = "sgd"
	// Adam is Adam with coupled (L2) weight decay, as torch.optim.Adam.
	Adam = "adam"
	// AdamW is Adam with decoupled weight decay, as torch.optim.AdamW.
	AdamW = "adamw"
)

// OptimizerScope is the scope of the store under which the optimiser keeps
// its state (non-trainable variables): momentum buffers, Adam moments and the
// update counter. A state variable mirrors the path of its parameter, e.g.
// the momentum buffer of "/head/cls/w" is "/optimizer/momentum/head/cls/w".
const OptimizerScope = "/optimizer"

// CounterPath is the path of the int64 scalar counting the updates applied
// (non-finite steps excluded). Adam's bias correction uses it.
const CounterPath = OptimizerScope + "/updates"

// OptimizerConfig configures the optimiser and gradient clipping. Start from
// DefaultOptimizer and override fields (for example by unmarshalling YAML
// over it): a zero field means zero, not "default".
type OptimizerConfig struct {
	// Name is "sgd" (default), "adam" or "adamw".
	Name string `yaml:"name" json:"name"`
	// LR is the base learning rate, before the schedule (default 0.01, the
	// reference for batch 16).
	LR float64 `yaml:"lr" json:"lr"`
	// BaseBatch is the batch size LR is given for (default 16, the
	// reference's 8 GPUs x 2 images): when > 0, a run with batch size b uses
	// LR * b / BaseBatch (the linear scaling rule, mmdetection's
	// auto_scale_lr); 0 uses LR as given whatever the batch size.
	BaseBatch int `yaml:"base_batch" json:"base_batch"`
	// Momentum of SGD (default 0.9; 0 = plain SGD).
	Momentum float64 `yaml:"momentum" json:"momentum"`
	// Nesterov selects Nesterov momentum for SGD (default false).
	Nesterov bool `yaml:"nesterov" json:"nesterov"`
	// WeightDecay (default 1e-4). For "sgd" and "adam" it is coupled (L2):
	// g += wd*w before the momentum/moments; for "adamw" it is decoupled:
	// w *= 1 - lr*wd before the Adam step.
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
	// NoDecay lists path.Match patterns of variables excluded from weight
	// decay; a pattern matches a variable when it matches its full path
	// ("/fpn/*/b") or its base name ("b", "bias"). Default empty: weight decay
	// applies to every trainable variable, biases and normalisation affine
	// parameters included, as PyTorch's and mmdetection's default optimiser
	// does (frozen batch-norm parameters are not trainable and never decay).
	NoDecay []string `yaml:"no_decay" json:"no_decay"`
	// Beta1, Beta2 and Eps are Adam's moment decay rates and denominator
	// constant (defaults 0.9, 0.999, 1e-8 as in PyTorch).
	Beta1 float64 `yaml:"beta1" json:"beta1"`
	Beta2 float64 `yaml:"beta2" json:"beta2"`
	Eps   float64 `yaml:"eps" json:"eps"`
	// GradClipNorm clips the gradients by their global L2 norm over all
	// trainable variables (default 35; 0 = off), with the semantics of
	// torch.nn.utils.clip_grad_norm_: the loss gradients are multiplied by
	// min(1, GradClipNorm/(norm+1e-6)) before weight decay and the update.
	GradClipNorm float64 `yaml:"grad_clip_norm" json:"grad_clip_norm"`
	// EMADecay, when > 0, keeps an exponential moving average of every
	// trainable variable, updated after each applied step with the decay
	// EMADecay * (1 - exp(-updates/EMATau)) (Ultralytics' ModelEMA: the
	// average follows the weights closely early on, and ever more slowly).
	// Evaluation, prediction and the saved models use the averaged
	// weights; training continues from the raw ones. Default 0 (off; the
	// detector's cpu and mobilenet presets use 0.9999 with EMATau 500).
	EMADecay float64 `yaml:"ema_decay" json:"ema_decay"`
	// EMATau is the number of updates over which the EMA decay ramps up
	// (default 2000).
	EMATau float64 `yaml:"ema_tau" json:"ema_tau"`
}

// DefaultOptimizer returns the reference RetinaNet/GHM optimiser: SGD, lr
// 0.01, momentum 0.9, weight decay 1e-4 on every parameter, gradient clipping
// at global L2 norm 35; Adam parameters at PyTorch's defaults.
func DefaultOptimizer() OptimizerConfig {
	return OptimizerConfig{
		Name:         SGD,
		LR:           0.01,
		BaseBatch:    16,
		Momentum:     0.9,
		WeightDecay:  1e-4,
		Beta1:        0.9,
		Beta2:        0.999,
		Eps:          1e-8,
		GradClipNorm: 35,
		EMATau:       2000,
	}
}

// ScaledLR returns the base learning rate for a run with the given batch
// size: LR * batch / BaseBatch when BaseBatch > 0, else LR.
func (c OptimizerConfig) ScaledLR(batch int) float64 {
	if c.BaseBatch > 0 {
		return c.LR * float64(batch) / float64(c.BaseBatch)
	}
	return c.LR
}

// Validate reports the first invalid field.
func (c OptimizerConfig) Validate() error {
	switch c.Name {
	case SGD, Adam, AdamW:
	default:
		return fmt.Errorf("optimizer: unknown name %q (want %q, %q or %q)", c.Name, SGD, Adam, AdamW)
	}
	finiteNonNeg := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("optimizer: %s must be finite and >= 0, got %v", name, v)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"lr", c.LR}, {"weight_decay", c.WeightDecay}, {"grad_clip_norm", c.GradClipNorm}, {"momentum", c.Momentum}} {
		if err := finiteNonNeg(f.name, f.v); err != nil {
			return err
		}
	}
	if c.Momentum >= 1 {
		return fmt.Errorf("optimizer: momentum must be in [0, 1), got %v", c.Momentum)
	}
	if !(c.EMADecay >= 0 && c.EMADecay < 1) {
		return fmt.Errorf("optimizer: ema_decay must be in [0, 1), got %v", c.EMADecay)
	}
	if c.EMADecay > 0 && !(c.EMATau > 0 && !math.IsInf(c.EMATau, 0)) {
		return fmt.Errorf("optimizer: ema_tau must be finite and > 0, got %v", c.EMATau)
	}
	if c.BaseBatch < 0 {
		return fmt.Errorf("optimizer: base_batch must be >= 0, got %d", c.BaseBatch)
	}
	if c.Nesterov && c.Momentum == 0 {
		return fmt.Errorf("optimizer: nesterov needs momentum > 0")
	}
	if c.Name != SGD {
		for _, f := range []struct {
			name string
			v    float64
		}{{"beta1", c.Beta1}, {"beta2", c.Beta2}} {
			if !(f.v >= 0 && f.v < 1) {
				return fmt.Errorf("optimizer: %s must be in [0, 1), got %v", f.name, f.v)
			}
		}
		if !(c.Eps > 0) || math.IsInf(c.Eps, 0) {
			return fmt.Errorf("optimizer: eps must be finite and > 0, got %v", c.Eps)
		}
	}
	for _, p := range c.NoDecay {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("optimizer: no_decay pattern %q: %w", p, err)
		}
	}
	return nil
}

// decays reports whether weight decay applies to the variable at fullPath.
func (c OptimizerConfig) decays(fullPath string) bool {
	if c.WeightDecay == 0 {
		return false
	}
	_, base := model.SplitPath(fullPath)
	for _, p := range c.NoDecay {
		if ok, _ := path.Match(p, fullPath); ok {
			return false
		}
		if ok, _ := path.Match(p, base); ok {
			return false
		}
	}
	return true
}

// isOptimizerVar reports whether the variable belongs to the optimiser state.
func isOptimizerVar(v *model.Variable) bool {
	return strings.HasPrefix(v.Path(), OptimizerScope+"/")
}

// stateVar returns (creating it, zero-initialised and non-trainable, if
// needed) the optimiser state variable kind for param.
func stateVar(store *model.Store, kind string, param *model.Variable) *model.Variable {
	p := OptimizerScope + "/" + kind + param.Path()
	scopePath, name := model.SplitPath(p)
	return store.Scope(scopePath).WithInitializer(initializer.Zero).
		VariableWithShape(name, param.Shape()).SetTrainable(false)
}

// counterVar returns (creating it if needed) the update counter.
func counterVar(store *model.Store) *model.Variable {
	scopePath, name := model.SplitPath(CounterPath)
	return store.Scope(scopePath).WithInitializer(initializer.Zero).
		VariableWithShape(name, shapes.Make(dtypes.Int64)).SetTrainable(false)
}

// EMAScope is the scope of the store under which the weight averages live
// (see OptimizerConfig.EMADecay): the average of "/detector/head/w" is
// "/optimizer/ema/detector/head/w".
const EMAScope = OptimizerScope + "/ema"

// EMAPath returns the path of the average of the variable at path.
func EMAPath(path string) string { return EMAScope + path }

// updateEMA averages the trainable variables params (their values after
// this step's update) into their EMA variables, guarded like the update.
func (u *updateCtx) updateEMA(g *Graph, params []*model.Variable) {
	t := ConvertDType(counterVar(u.store).NodeValue(g), dtypes.Float64)
	d := MulScalar(OneMinus(Exp(DivScalar(Neg(t), u.cfg.EMATau))), u.cfg.EMADecay)
	for _, v := range params {
		e := stateVar(u.store, "ema", v)
		old := e.NodeValue(g)
		dv := scalarAs(d, v.DType())
		avg := Add(Mul(dv, old), Mul(OneMinus(dv), v.NodeValue(g)))
		u.guarded(e, avg, old)
	}
}

// updateCtx holds the per-step graph values shared by all variable updates.
type updateCtx struct {
	cfg   OptimizerConfig
	store *model.Store
	ok    *Node // scalar Bool: apply the update
	lr    *Node // scalar Float64 learning rate
	scale *Node // gradient scale from clipping (nil = 1), dtype of the norm
	// Adam: bias-correction terms, Float64 scalars.
	adamStepSize, adamBC2Sqrt *Node
}

// guarded sets v's graph value to newValue if the step is finite, else keeps
// oldValue.
func (u *updateCtx) guarded(v *model.Variable, newValue, oldValue *Node) {
	v.SetNodeValue(Where(u.ok, newValue, oldValue))
}

// scalarAs returns the Float64 scalar node x converted to dtype.
func scalarAs(x *Node, dtype dtypes.DType) *Node {
	if x.DType() == dtype {
		return x
	}
	return ConvertDType(x, dtype)
}

// prepare increments the update counter (guarded) and, for Adam, builds the
// bias-correction terms from it: t = updates+1, computed in float64.
func (u *updateCtx) prepare(g *Graph) {
	cnt := counterVar(u.store)
	old := cnt.NodeValue(g)
	next := AddScalar(old, 1)
	u.guarded(cnt, next, old)
	if u.cfg.Name == SGD {
		return
	}
	t := ConvertDType(next, dtypes.Float64)
	b1 := Scalar(g, dtypes.Float64, u.cfg.Beta1)
	b2 := Scalar(g, dtypes.Float64, u.cfg.Beta2)
	bc1 := OneMinus(Pow(b1, t))
	bc2 := OneMinus(Pow(b2, t))
	u.adamStepSize = Div(u.lr, bc1)
	u.adamBC2Sqrt = Sqrt(bc2)
}

// update builds the optimiser update of one trainable variable given its
// loss gradient.
func (u *updateCtx) update(g *Graph, v *model.Variable, grad *Node) {
	dt := v.DType()
	w := v.NodeValue(g)
	if u.scale != nil {
		grad = Mul(grad, scalarAs(u.scale, dt))
	}
	decay := u.cfg.decays(v.Path())
	lr := scalarAs(u.lr, dt)
	switch u.cfg.Name {
	case SGD:
		if decay {
			grad = Add(grad, MulScalar(w, u.cfg.WeightDecay))
		}
		if u.cfg.Momentum != 0 {
			bufVar := stateVar(u.store, "momentum", v)
			buf := bufVar.NodeValue(g)
			newBuf := Add(MulScalar(buf, u.cfg.Momentum), grad)
			u.guarded(bufVar, newBuf, buf)
			if u.cfg.Nesterov {
				grad = Add(grad, MulScalar(newBuf, u.cfg.Momentum))
			} else {
				grad = newBuf
			}
		}
		u.guarded(v, Sub(w, Mul(lr, grad)), w)
	case Adam, AdamW:
		wd := w
		if decay && u.cfg.Name == Adam {
			grad = Add(grad, MulScalar(w, u.cfg.WeightDecay))
		}
		if decay && u.cfg.Name == AdamW {
			f := OneMinus(MulScalar(u.lr, u.cfg.WeightDecay)) // float64: 1 - lr*wd
			wd = Mul(w, scalarAs(f, dt))
		}
		mVar := stateVar(u.store, "adam_m", v)
		vVar := stateVar(u.store, "adam_v", v)
		m, s := mVar.NodeValue(g), vVar.NodeValue(g)
		newM := Add(MulScalar(m, u.cfg.Beta1), MulScalar(grad, 1-u.cfg.Beta1))
		newS := Add(MulScalar(s, u.cfg.Beta2), MulScalar(Square(grad), 1-u.cfg.Beta2))
		u.guarded(mVar, newM, m)
		u.guarded(vVar, newS, s)
		denom := AddScalar(Div(Sqrt(newS), scalarAs(u.adamBC2Sqrt, dt)), u.cfg.Eps)
		newW := Sub(wd, Mul(scalarAs(u.adamStepSize, dt), Div(newM, denom)))
		u.guarded(v, newW, w)
	}
}
