// Package train provides the generic training machinery of ghmdet: the
// optimisers (SGD with momentum, Adam, AdamW) with gradient clipping and a
// non-finite guard, learning-rate schedules (warm-up, step decay, cosine),
// the compiled training step, checkpoints, a JSON-lines metrics log, atomic
// file writes and the layout of a run directory.
//
// It knows nothing about detectors: a training step is built from a loss
// function that maps a batch (graph inputs) to a scalar total loss and named
// loss terms, over the variables of a GoMLX model.Store.
//
// # Building and running a step
//
//	lossFn := func(scope *model.Scope, in []*graph.Node) (*graph.Node, []*graph.Node) {
//		x, y := in[0], in[1]
//		w := scope.In("linear").VariableWithValue("w", initialW) // trainable
//		mse := graph.ReduceAllMean(graph.Square(graph.Sub(graph.MatMul(x, w.NodeValue(x.Graph())), y)))
//		return mse, []*graph.Node{mse}
//	}
//	opt, sched := train.DefaultOptimizer(), train.DefaultSchedule()
//	step, err := train.NewStep(backend, store, lossFn, []string{"mse"}, opt)
//	for it := 0; it < iters; it++ {
//		lr := sched.LR(opt.LR, train.Progress{Iter: it, Epoch: it / itersPerEpoch})
//		res, err := step.Run(it+1, lr, xBatch, yBatch)
//		var nf *train.NonFiniteError
//		if errors.As(err, &nf) { /* stop: variables still hold the last good values */ }
//	}
//	err = train.Save(path, store, train.Meta{Step: iters})
//
// The learning rate is a graph input, so changing it does not recompile the
// graph. Optimiser state lives in the same store under OptimizerScope, so a
// checkpoint of the store holds everything needed to resume.
package train
