package engine

import (
	"fmt"
	"math"

	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// FoldedConv is a convolution's weights with its bias and batch-norm folded
// into a per-channel affine map, and its group-norm parameters, as the
// engine and the ONNX export both read them.
type FoldedConv struct {
	// Weights is the kernel as stored: kernel x kernel x in x out.
	Weights []float32
	// Scale and Shift map the convolution's output channel c (of Weights,
	// without bias) to Scale[c]*x + Shift[c]: the bias and a batch-norm
	// folded in (Scale 1 and Shift the bias without one).
	Scale, Shift []float64
	// Groups is the number of group-norm groups after the convolution (0:
	// none); Eps, Gamma and Beta are its parameters.
	Groups      int
	Eps         float64
	Gamma, Beta []float32
}

// FoldConv reads the weights of the convolution op and folds its bias and
// batch-norm (frozen or not: inference uses the running statistics).
func FoldConv(op model.Op, get Weights) (FoldedConv, error) {
	var f FoldedConv
	k, cin, cout := op.Kernel, op.In, op.Out
	w, err := read(get, op.Name+"/weights", k, k, cin, cout)
	if err != nil {
		return f, err
	}
	f.Weights = w
	scale := make([]float64, cout)
	shift := make([]float64, cout)
	for i := range scale {
		scale[i] = 1
	}
	if op.Bias {
		b, err := read(get, op.Name+"/biases", cout)
		if err != nil {
			return f, err
		}
		for i, v := range b {
			shift[i] = float64(v)
		}
	}
	eps := op.Norm.Eps
	if eps == 0 {
		eps = 1e-5
	}
	switch op.Norm.Kind {
	case nn.NormFrozenBN, nn.NormBN:
		var v [4][]float32
		for i, n := range []string{"gamma", "beta", "mean", "variance"} {
			if v[i], err = read(get, op.NormName+"/"+n, cout); err != nil {
				return f, err
			}
		}
		for c := range cout {
			s := float64(v[0][c]) / math.Sqrt(float64(v[3][c])+eps)
			shift[c] = shift[c]*s + float64(v[1][c]) - float64(v[2][c])*s
			scale[c] = s
		}
	case nn.NormGN:
		f.Groups = op.Norm.Groups
		if f.Groups == 0 {
			f.Groups = nn.DefaultGroups(cout)
		}
		if cout%f.Groups != 0 {
			return f, fmt.Errorf("%s: %d channels not divisible into %d groups", op.NormName, cout, f.Groups)
		}
		f.Eps = eps
		if f.Gamma, err = read(get, op.NormName+"/gamma", cout); err != nil {
			return f, err
		}
		if f.Beta, err = read(get, op.NormName+"/beta", cout); err != nil {
			return f, err
		}
	case nn.NormNone, "":
	default:
		return f, fmt.Errorf("%s: normalisation %q not supported", op.NormName, op.Norm.Kind)
	}
	f.Scale, f.Shift = scale, shift
	return f, nil
}
