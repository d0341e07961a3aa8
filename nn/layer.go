package nn

import (
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Conv describes a 2-D convolution layer: its variables are "weights"
// [Kernel, Kernel, Cin, Out] (HWIO) and, with Bias, "biases" [Out], created
// under the scope given to Apply.
type Conv struct {
	Out      int        // output channels (required)
	Kernel   int        // kernel size (square); 0 means 1
	Stride   int        // 0 means 1
	Padding  Padding    // default PadSymmetric
	Bias     bool       // add a bias per output channel
	Init     *Init      // kernel initialiser; nil means KaimingFanOutInit
	BiasInit *Init      // bias initialiser; nil means ZerosInit
	Method   ConvMethod // default ConvAuto
}

// Apply convolves x [B,H,W,Cin] and returns [B,Ho,Wo,Out], creating the
// variables under scope on first use (reusing them when scope's path and the
// shapes match an existing layer).
func (c Conv) Apply(scope *mlmodel.Scope, x *Node) *Node {
	if c.Out < 1 {
		exceptions.Panicf("nn.Conv at %q: Out must be >= 1, got %d", scope.Scope(), c.Out)
	}
	k, s := max(c.Kernel, 1), max(c.Stride, 1)
	init := KaimingFanOutInit()
	if c.Init != nil {
		init = *c.Init
	}
	w := Variable(scope, "weights", init, k, k, x.Shape().Dim(3), c.Out).NodeValue(x.Graph())
	y := Conv2D(x, w, s, c.Padding, c.Method)
	if c.Bias {
		bi := ZerosInit()
		if c.BiasInit != nil {
			bi = *c.BiasInit
		}
		b := Variable(scope, "biases", bi, c.Out).NodeValue(x.Graph())
		y = Add(y, Reshape(b, 1, 1, 1, c.Out))
	}
	return y
}

// Depthwise describes a depthwise 2-D convolution layer (channel multiplier
// 1): variables "weights" [Kernel, Kernel, 1, C] and, with Bias, "biases" [C].
type Depthwise struct {
	Kernel  int     // kernel size (square); 0 means 3
	Stride  int     // 0 means 1
	Padding Padding // default PadSymmetric
	Bias    bool
	Init    *Init // nil means KaimingFanOutInit (fan_out = Kernel*Kernel)
}

// Apply convolves x [B,H,W,C] channel by channel, returning [B,Ho,Wo,C].
func (d Depthwise) Apply(scope *mlmodel.Scope, x *Node) *Node {
	k, s := d.Kernel, max(d.Stride, 1)
	if k == 0 {
		k = 3
	}
	c := x.Shape().Dim(3)
	init := KaimingFanOutInit()
	if d.Init != nil {
		init = *d.Init
	}
	w := Variable(scope, "weights", init, k, k, 1, c).NodeValue(x.Graph())
	y := DepthwiseConv2D(x, w, s, d.Padding)
	if d.Bias {
		b := Variable(scope, "biases", ZerosInit(), c).NodeValue(x.Graph())
		y = Add(y, Reshape(b, 1, 1, 1, c))
	}
	return y
}

// SetTrainable marks every variable under scope (sub-scopes included)
// trainable or not; frozen layers also need StopGradient on their output so
// no gradient is computed through them.
func SetTrainable(scope *mlmodel.Scope, trainable bool) {
	for v := range scope.IterVariables() {
		v.SetTrainable(trainable)
	}
}
