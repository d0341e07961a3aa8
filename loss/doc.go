// Package loss provides the classification and regression losses of the
// ghmdet detectors as GoMLX graph functions: the Gradient Harmonizing
// Mechanism losses GHM-C and GHM-R (Li, Liu, Wang, AAAI 2019) with their
// momentum state, and the baselines the paper compares against: sigmoid
// cross-entropy, focal loss, OHEM, smooth L1, L1 and ASL1 (authentic smooth
// L1).
//
// # Conventions
//
// Predictions, targets and weights are graph nodes of one shape. The
// classification losses take logits of shape [..., C] (any rank: [N, C] for a
// level's anchors, [B, N, C] for a batch) with targets in {0, 1} (one-hot over
// the foreground classes, background = all zeros); the regression losses take
// box deltas of shape [..., 4]. Every loss returns a scalar. Inputs of float
// dtypes other than float32 are converted to float32, and the loss is float32:
// weights, histograms and accumulations never use half precision.
//
// Weights are masks or multipliers, as documented per loss. Normalisation is
// explicit: the baselines take an avgFactor node (a scalar, clamped to >= 1;
// nil selects the default stated for each loss). GHM-C and GHM-R normalise
// themselves (see GHMC.Loss and GHMR.Loss) and take no average factor.
//
// # Gradients
//
// All losses are differentiable with graph.Gradient, with respect to the
// predictions only (targets and weights are constants, as in the reference
// implementations). The classification losses run on the largest tensors of a
// detector (about 8 million logits per image pair on COCO), so their
// element-wise derivative, the standard closed form that PyTorch's
// binary_cross_entropy_with_logits also uses (d BCE/dx = sigmoid(x) - t, and
// its focal-loss extension), is attached to the graph instead of
// differentiating through the numerically stable forward formula: the loss is
// written value + (s - StopGradient(s)), s the sum of an identity of x whose
// vector-Jacobian product (registered with GoMLX's IdentityWithCustomGradient)
// is G times the incoming gradient. Its value is the loss exactly, and GoMLX's
// reverse-mode autodiff propagates G, scaled by whatever multiplies the loss
// downstream, to x and on to the network that produced x. The regression
// losses are small and are differentiated by GoMLX through their forward
// formula. Tests check the attached derivatives against finite differences and
// against autodiff of the plain formulas.
//
// # Performance
//
// The GHM binning is one pass of element-wise operations followed by one
// ScatterSum (the histogram) and one Gather (the per-entry weight), with k
// entries packed into one index of a base^k-row table (k = 3 by default) to divide
// the per-index cost of the backend's scatter and gather; there is no loop
// over bins. Transcendental functions the pure-Go backend runs as scalar loops
// (Log1p, Floor) are replaced by vectorised arithmetic. BenchGHMCvsFocal and
// BenchmarkGHMCvsFocal time GHM-C against the focal loss.
//
// # GHM state
//
// GHMC and GHMR keep the momentum state acc[M] (the exponential moving average
// of the per-bin counts) as a non-trainable variable named "acc" in the
// model.Scope given to NewGHMC / NewGHMR, so it is saved in checkpoints with
// the model's other variables and restored on resume. One loss object may be
// called several times in one graph (once per FPN level and image group):
// each call reads the state left by the previous call and updates it, so the
// moving average advances in call order, exactly as successive calls of the
// reference implementation do. The update is kept only in graphs marked as
// training (store.SetTraining(g, true) before the first call); in other graphs
// the calls chain the state inside the graph but leave the variable unchanged.
//
// The counts, tot and the number of non-empty bins are those of one call. The
// reference ran 2 images per GPU and called the losses once per FPN level (P3
// to P7, in that order) on those images: a detector reproduces its statistics
// by calling the loss once per level and per group of 2 images.
package loss
