package nn

import (
	. "github.com/gomlx/gomlx/core/graph"
)

// WithCustomGradient builds y = forward(inputs...) and makes reverse-mode
// differentiation use grad instead of differentiating forward: grad receives
// the inputs, the output y and the incoming gradient v (shaped like y) and
// returns one gradient per input (nil for "no gradient").
//
// GoMLX only offers single-input custom gradients
// (IdentityWithCustomGradient); this composes them: the output is wrapped in
// an identity that records v, and every input in an identity whose gradient
// is taken from grad. The autodiff nodes GoMLX builds for forward itself are
// never consumed, and the backend drops them when compiling. The output
// identity is always visited before the inputs' (graph order), so v is known
// when the inputs' gradients are requested; grad is called once per Gradient
// call and its results shared by the inputs.
//
// The pure-Go backend copies an identity's input when that buffer is still
// needed elsewhere, so grad is given the identities (the wrapped inputs and
// the wrapped output), not the nodes they wrap: the wrapped nodes then have
// a single consumer and no copy is made.
func WithCustomGradient(inputs []*Node, forward func(inputs []*Node) *Node,
	grad func(inputs []*Node, y, v *Node) []*Node) *Node {
	var (
		out   *Node
		v     *Node // gradient recorded by the output identity
		gradV *Node // v for which grads was computed
		grads []*Node
	)
	wrapped := make([]*Node, len(inputs))
	for i, in := range inputs {
		wrapped[i] = IdentityWithCustomGradient(in, func(x, _ *Node) *Node {
			if grads == nil || gradV != v {
				grads = grad(wrapped, out, v)
				gradV = v
			}
			if grads[i] == nil {
				return ZerosLike(x)
			}
			return grads[i]
		})
	}
	out = IdentityWithCustomGradient(forward(wrapped), func(_, vOut *Node) *Node {
		v = vOut
		return vOut
	})
	return out
}
