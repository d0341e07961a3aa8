package detector

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/loss"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/train"
)

// LossTerms names the loss terms a training step reports.
var LossTerms = []string{"loss_cls", "loss_box"}

// lossFn returns the training loss graph. Its inputs are the batch images
// [B,H,W,3], class targets [B,N,K], class weights [B,N], box targets [B,N,4]
// and box weights [B,N,4], N being all anchors of all levels.
//
// As the reference head does, the losses are called once per pyramid level
// (P3..P7, in that order) on the images of each group of GroupSize images,
// the level losses are summed, and the group totals are averaged (the
// reference averaged its per-GPU losses, one group per GPU). The GHM losses
// share one momentum state across all calls of a step; the baselines are
// normalised by the number of positive anchors of the group (all levels).
func lossFn(cfg *Config) train.LossFn {
	return func(scope *mlmodel.Scope, inputs []*Node) (*Node, []*Node) {
		images, clsT, clsW, boxT, boxW := inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]
		g := images.Graph()
		scope.Store().SetTraining(g, true)
		out := model.Forward(scope.In(ModelScope), cfg.Model, images)
		lc := cfg.Loss

		var ghmc *loss.GHMC
		var ghmr *loss.GHMR
		var err error
		if lc.Cls == ClsGHMC {
			ghmc, err = loss.NewGHMC(scope.In("loss_ghmc"), loss.GHMCOptions{
				Bins: lc.GHMCBins, Momentum: lc.GHMCMomentum, LossWeight: lc.GHMCWeight,
				MaxWeight: lc.GHMCMaxWeight, PaperNorm: lc.PaperNorm,
			})
			if err != nil {
				panic(fmt.Errorf("loss.ghmc_*: %w", err))
			}
		}
		if lc.Reg == RegGHMR {
			ghmr, err = loss.NewGHMR(scope.In("loss_ghmr"), loss.GHMROptions{
				Mu: lc.GHMRMu, Bins: lc.GHMRBins, Momentum: lc.GHMRMomentum, LossWeight: lc.GHMRWeight,
				MaxWeight: lc.GHMRMaxWeight, PaperNorm: lc.PaperNorm,
			})
			if err != nil {
				panic(fmt.Errorf("loss.ghmr_*: %w", err))
			}
		}

		bs := images.Shape().Dim(0)
		group := min(lc.GroupSize, bs)
		groups := bs / group
		k := cfg.Model.NumClasses
		offsets, counts := levelOffsets(cfg)
		var clsTotal, boxTotal *Node
		for gi := 0; gi < groups; gi++ {
			imgs := AxisRange(gi*group, (gi+1)*group)
			// Positive anchors of the group (all levels): the baselines'
			// average factor.
			numPos := ReduceAllSum(Slice(boxW, imgs, AxisRange(), AxisRange(0, 1)))
			for l := range offsets {
				anch := AxisRange(offsets[l], offsets[l]+counts[l])
				n := group * counts[l]
				logits := Reshape(Slice(out.Cls[l], imgs), n, k)
				deltas := Reshape(Slice(out.Box[l], imgs), n, 4)
				ct := Reshape(Slice(clsT, imgs, anch), n, k)
				cw := Reshape(Slice(clsW, imgs, anch), n, 1)
				cw = BroadcastToDims(cw, n, k)
				bt := Reshape(Slice(boxT, imgs, anch), n, 4)
				bw := Reshape(Slice(boxW, imgs, anch), n, 4)

				var lcls, lbox *Node
				switch lc.Cls {
				case ClsGHMC:
					lcls = ghmc.Loss(logits, ct, cw)
				case ClsFocal:
					lcls = loss.Focal(logits, ct, cw, numPos, loss.FocalOptions{Gamma: lc.FocalGamma, Alpha: lc.FocalAlpha})
				case ClsCE:
					lcls = loss.SigmoidCE(logits, ct, cw, nil)
				case ClsOHEM:
					lcls = loss.OHEM(logits, ct, cw, nil, loss.OHEMOptions{NegPosRatio: lc.OHEMRatio, MinPositives: 1})
				}
				switch lc.Reg {
				case RegGHMR:
					lbox = ghmr.Loss(deltas, bt, bw)
				case RegSmoothL1:
					lbox = MulScalar(loss.SmoothL1(deltas, bt, bw, numPos, lc.SmoothL1Beta), lc.RegWeight)
				case RegL1:
					lbox = MulScalar(loss.L1(deltas, bt, bw, numPos), lc.RegWeight)
				case RegASL1:
					lbox = MulScalar(loss.ASL1(deltas, bt, bw, numPos, lc.ASL1Mu), lc.RegWeight)
				}
				clsTotal = addOrSet(clsTotal, lcls)
				boxTotal = addOrSet(boxTotal, lbox)
			}
		}
		clsTotal = DivScalar(clsTotal, float64(groups))
		boxTotal = DivScalar(boxTotal, float64(groups))
		return Add(clsTotal, boxTotal), []*Node{clsTotal, boxTotal}
	}
}

func addOrSet(acc, x *Node) *Node {
	if acc == nil {
		return x
	}
	return Add(acc, x)
}
