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
// and box weights [B,N,4], N being all anchors of all levels. It runs the
// network and returns headLoss of its outputs.
func lossFn(cfg *Config) train.LossFn {
	return func(scope *mlmodel.Scope, inputs []*Node) (*Node, []*Node) {
		images := inputs[0]
		scope.Store().SetTraining(images.Graph(), true)
		out := model.Forward(scope.In(ModelScope), cfg.Model, images)
		clsTotal, boxTotal := headLoss(scope, cfg.Loss, out.Cls, out.Box, inputs[1], inputs[2], inputs[3], inputs[4])
		return Add(clsTotal, boxTotal), []*Node{clsTotal, boxTotal}
	}
}

// headLoss returns the classification and box losses of the head outputs
// cls[l] [B, N_l, K] (logits) and box[l] [B, N_l, 4] (deltas) of every
// pyramid level l against the targets clsT [B,N,K], clsW [B,N], boxT [B,N,4]
// and boxW [B,N,4], N = sum of N_l (levels concatenated in order).
//
// As the reference head does, the losses are called once per pyramid level
// (P3..P7, in that order) on the images of each group of GroupSize images,
// the level losses are summed, and the group totals are averaged (the
// reference averaged its per-GPU losses, one group per GPU). The GHM losses
// share one momentum state across all calls of a step and normalise each call
// on their own (spec); every baseline (CE, focal, OHEM, smooth L1, L1, ASL1)
// divides each level's sum by one number, the positive anchors of the group
// over all levels (at least 1), as the reference head's avg_factor. OHEM
// mines per image over all levels at once (ohemGroup). Invalid loss options
// panic: Config.Validate checks them first.
func headLoss(scope *mlmodel.Scope, lc LossConfig, cls, box []*Node, clsT, clsW, boxT, boxW *Node) (clsTotal, boxTotal *Node) {
	var ghmc *loss.GHMC
	var ghmr *loss.GHMR
	var err error
	if lc.Cls == ClsGHMC {
		ghmc, err = loss.NewGHMC(scope.In("loss_ghmc"), lc.ghmcOptions())
		if err != nil {
			panic(fmt.Errorf("loss.ghmc_*: %w", err))
		}
	}
	if lc.Reg == RegGHMR {
		ghmr, err = loss.NewGHMR(scope.In("loss_ghmr"), lc.ghmrOptions())
		if err != nil {
			panic(fmt.Errorf("loss.ghmr_*: %w", err))
		}
	}

	bs := clsT.Shape().Dim(0)
	group := min(lc.GroupSize, bs)
	groups := bs / group
	k := clsT.Shape().Dim(2)
	offsets := make([]int, len(cls))
	counts := make([]int, len(cls))
	off := 0
	for l, c := range cls {
		offsets[l], counts[l] = off, c.Shape().Dim(1)
		off += counts[l]
	}
	for gi := 0; gi < groups; gi++ {
		imgs := AxisRange(gi*group, (gi+1)*group)
		// The baselines' normaliser: the positive anchors of the group
		// over all levels, at least 1 (the reference's avg_factor).
		numPos := ReduceAllSum(Slice(boxW, imgs, AxisRange(), AxisRange(0, 1)))
		if lc.Cls == ClsOHEM {
			// OHEM mines per image over the anchors of all levels.
			clsTotal = addOrSet(clsTotal, ohemGroup(cls, clsT, clsW, gi*group, group, numPos, lc))
		}
		for l := range offsets {
			anch := AxisRange(offsets[l], offsets[l]+counts[l])
			n := group * counts[l]
			deltas := Reshape(Slice(box[l], imgs), n, 4)
			bt := Reshape(Slice(boxT, imgs, anch), n, 4)
			bw := Reshape(Slice(boxW, imgs, anch), n, 4)
			if lc.Cls != ClsOHEM {
				logits := Reshape(Slice(cls[l], imgs), n, k)
				ct := Reshape(Slice(clsT, imgs, anch), n, k)
				cw := BroadcastToDims(Reshape(Slice(clsW, imgs, anch), n, 1), n, k)
				var lcls *Node
				switch lc.Cls {
				case ClsGHMC:
					lcls = ghmc.Loss(logits, ct, cw)
				case ClsFocal:
					lcls = loss.Focal(logits, ct, cw, numPos, loss.FocalOptions{Gamma: lc.FocalGamma, Alpha: lc.FocalAlpha})
				case ClsCE:
					lcls = loss.SigmoidCE(logits, ct, cw, numPos)
				}
				clsTotal = addOrSet(clsTotal, lcls)
			}
			var lbox *Node
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
			boxTotal = addOrSet(boxTotal, lbox)
		}
	}
	clsTotal = DivScalar(clsTotal, float64(groups))
	boxTotal = DivScalar(boxTotal, float64(groups))
	return clsTotal, boxTotal
}

// ohemGroup is the OHEM classification loss of the images first..first+n-1
// (a loss group): each image keeps all its positive anchors and the
// OHEMRatio x P hardest negatives by cross-entropy over the anchors of all
// its levels together (P its positives; an image without positives keeps
// OHEMMinPositives x OHEMRatio negatives, none by default), and the kept
// entries' cross-entropy is summed over the group's images and divided by
// numPos, the group's positive anchors.
func ohemGroup(cls []*Node, clsT, clsW *Node, first, n int, numPos *Node, lc LossConfig) *Node {
	var total *Node
	for i := first; i < first+n; i++ {
		img := AxisRange(i, i+1)
		var levels []*Node
		for _, c := range cls {
			levels = append(levels, Slice(c, img))
		}
		logits := Squeeze(Concatenate(levels, 1), 0)
		num, k := logits.Shape().Dim(0), logits.Shape().Dim(1)
		ct := Reshape(Slice(clsT, img), num, k)
		cw := BroadcastToDims(Reshape(Slice(clsW, img), num, 1), num, k)
		l := loss.OHEM(logits, ct, cw, numPos, loss.OHEMOptions{NegPosRatio: lc.OHEMRatio, MinPositives: lc.OHEMMinPositives})
		total = addOrSet(total, l)
	}
	return total
}

func addOrSet(acc, x *Node) *Node {
	if acc == nil {
		return x
	}
	return Add(acc, x)
}
