package eval

import (
	"math"
	"sort"
)

// This file holds a second, deliberately direct and slow evaluator: a line by
// line transcription of pycocotools (COCO.loadRes, COCOeval.evaluate,
// computeIoU, evaluateImg, accumulate and summarize, maskApi.c's bbIou), with
// its dictionaries, per-image lists and float match arrays. The tests compare
// it with the fast evaluator on many random inputs.

// refAnn is an annotation dict as pycocotools holds it.
type refAnn struct {
	id      int64
	imageID int64
	catID   int
	bbox    [4]float64
	area    float64
	iscrowd int
	score   float64
	ignore  int
	_ignore int
}

// refCOCO is pycocotools' COCO index: anns per image in file order.
type refCOCO struct {
	imgIDs    []int64
	catIDs    []int
	anns      []*refAnn
	imgToAnns map[int64][]*refAnn
}

func (c *refCOCO) createIndex() {
	c.imgToAnns = map[int64][]*refAnn{}
	for _, a := range c.anns {
		c.imgToAnns[a.imageID] = append(c.imgToAnns[a.imageID], a)
	}
}

// getAnns is getAnnIds(imgIds, catIds) followed by loadAnns.
func (c *refCOCO) getAnns(imgIDs []int64, catIDs []int) []*refAnn {
	var out []*refAnn
	for _, img := range imgIDs {
		for _, a := range c.imgToAnns[img] {
			for _, k := range catIDs {
				if a.catID == k {
					out = append(out, a)
					break
				}
			}
		}
	}
	return out
}

type imgCat struct {
	img int64
	cat int
}

// refEvalImg is the dict evaluateImg returns.
type refEvalImg struct {
	dtIDs     []int64
	gtIDs     []int64
	dtMatches [][]float64 // T x D
	gtMatches [][]float64 // T x G
	dtScores  []float64
	gtIgnore  []float64
	dtIgnore  [][]float64 // T x D
}

// refResult holds the reference's eval arrays and stats.
type refResult struct {
	precision, recall, scores []float64
	stats                     [12]float64
}

// refBBIoU is maskApi.c's bbIou: o[g*m+d] for m detections and n ground
// truths; returned as a D x G matrix (pycocotools reshapes in Fortran order).
func refBBIoU(dt, gt [][4]float64, iscrowd []int) [][]float64 {
	m, n := len(dt), len(gt)
	o := make([]float64, m*n)
	for g := 0; g < n; g++ {
		G := gt[g]
		ga := G[2] * G[3]
		crowd := iscrowd[g] != 0
		for d := 0; d < m; d++ {
			D := dt[d]
			da := D[2] * D[3]
			o[g*m+d] = 0
			w := math.Min(D[2]+D[0], G[2]+G[0]) - math.Max(D[0], G[0])
			if w <= 0 {
				continue
			}
			h := math.Min(D[3]+D[1], G[3]+G[1]) - math.Max(D[1], G[1])
			if h <= 0 {
				continue
			}
			i := w * h
			var u float64
			if crowd {
				u = da
			} else {
				u = da + ga - i
			}
			o[g*m+d] = i / u
		}
	}
	out := make([][]float64, m)
	for d := range out {
		out[d] = make([]float64, n)
		for g := 0; g < n; g++ {
			out[d][g] = o[g*m+d]
		}
	}
	return out
}

// argsortStable is np.argsort(keys, kind='mergesort').
func argsortStable(keys []float64) []int {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	return idx
}

// refEvaluate runs the transcription.
func refEvaluate(gtIn *GroundTruth, dets []Detection) *refResult {
	// COCO(gt)
	cocoGt := &refCOCO{}
	for _, im := range gtIn.Images {
		cocoGt.imgIDs = append(cocoGt.imgIDs, im.ID)
	}
	for _, c := range gtIn.Categories {
		cocoGt.catIDs = append(cocoGt.catIDs, c.ID)
	}
	for _, a := range gtIn.Annotations {
		crowd := 0
		if a.IsCrowd {
			crowd = 1
		}
		cocoGt.anns = append(cocoGt.anns, &refAnn{id: a.ID, imageID: a.ImageID, catID: a.CategoryID, bbox: a.BBox, area: a.Area, iscrowd: crowd})
	}
	cocoGt.createIndex()
	// loadRes
	cocoDt := &refCOCO{imgIDs: cocoGt.imgIDs, catIDs: cocoGt.catIDs}
	for j, d := range dets {
		bb := d.BBox
		cocoDt.anns = append(cocoDt.anns, &refAnn{id: int64(j + 1), imageID: d.ImageID, catID: d.CategoryID, bbox: bb, area: bb[2] * bb[3], iscrowd: 0, score: d.Score})
	}
	cocoDt.createIndex()

	// Params
	imgIDs := append([]int64(nil), cocoGt.imgIDs...)
	sort.Slice(imgIDs, func(a, b int) bool { return imgIDs[a] < imgIDs[b] })
	uimg := imgIDs[:0]
	for i, v := range imgIDs {
		if i == 0 || v != imgIDs[i-1] {
			uimg = append(uimg, v)
		}
	}
	imgIDs = uimg
	catIDs := append([]int(nil), cocoGt.catIDs...)
	sort.Ints(catIDs)
	iouThrs := IoUThresholds
	recThrs := RecallThresholds
	maxDets := MaxDets[:]
	areaRng := [][2]float64{{0, 1e5 * 1e5}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e5 * 1e5}}

	// _prepare
	gts := cocoGt.getAnns(imgIDs, catIDs)
	dts := cocoDt.getAnns(imgIDs, catIDs)
	for _, g := range gts {
		g.ignore = g.iscrowd
	}
	gtsBy := map[imgCat][]*refAnn{}
	dtsBy := map[imgCat][]*refAnn{}
	for _, g := range gts {
		gtsBy[imgCat{g.imageID, g.catID}] = append(gtsBy[imgCat{g.imageID, g.catID}], g)
	}
	for _, d := range dts {
		dtsBy[imgCat{d.imageID, d.catID}] = append(dtsBy[imgCat{d.imageID, d.catID}], d)
	}

	// computeIoU
	ious := map[imgCat][][]float64{}
	for _, img := range imgIDs {
		for _, cat := range catIDs {
			gt := gtsBy[imgCat{img, cat}]
			dt := dtsBy[imgCat{img, cat}]
			if len(gt) == 0 && len(dt) == 0 {
				continue
			}
			neg := make([]float64, len(dt))
			for i, d := range dt {
				neg[i] = -d.score
			}
			inds := argsortStable(neg)
			sdt := make([]*refAnn, len(dt))
			for i, j := range inds {
				sdt[i] = dt[j]
			}
			if len(sdt) > maxDets[len(maxDets)-1] {
				sdt = sdt[:maxDets[len(maxDets)-1]]
			}
			var g, d [][4]float64
			var iscrowd []int
			for _, a := range gt {
				g = append(g, a.bbox)
				iscrowd = append(iscrowd, a.iscrowd)
			}
			for _, a := range sdt {
				d = append(d, a.bbox)
			}
			if len(d) == 0 || len(g) == 0 {
				ious[imgCat{img, cat}] = nil
				continue
			}
			ious[imgCat{img, cat}] = refBBIoU(d, g, iscrowd)
		}
	}

	// evaluateImg
	evaluateImg := func(img int64, cat int, aRng [2]float64, maxDet int) *refEvalImg {
		gt := gtsBy[imgCat{img, cat}]
		dt := dtsBy[imgCat{img, cat}]
		if len(gt) == 0 && len(dt) == 0 {
			return nil
		}
		ig := make([]float64, len(gt))
		for i, g := range gt {
			if g.ignore != 0 || g.area < aRng[0] || g.area > aRng[1] {
				g._ignore = 1
			} else {
				g._ignore = 0
			}
			ig[i] = float64(g._ignore)
		}
		gtind := argsortStable(ig)
		sgt := make([]*refAnn, len(gt))
		for i, j := range gtind {
			sgt[i] = gt[j]
		}
		neg := make([]float64, len(dt))
		for i, d := range dt {
			neg[i] = -d.score
		}
		dtind := argsortStable(neg)
		if len(dtind) > maxDet {
			dtind = dtind[:maxDet]
		}
		sdt := make([]*refAnn, len(dtind))
		for i, j := range dtind {
			sdt[i] = dt[j]
		}
		iscrowd := make([]int, len(sgt))
		for i, g := range sgt {
			iscrowd[i] = g.iscrowd
		}
		raw := ious[imgCat{img, cat}]
		var iou [][]float64
		if len(raw) > 0 {
			iou = make([][]float64, len(raw))
			for d := range raw {
				iou[d] = make([]float64, len(gtind))
				for g, j := range gtind {
					iou[d][g] = raw[d][j]
				}
			}
		}
		T, G, D := len(iouThrs), len(sgt), len(sdt)
		gtm := make2(T, G)
		dtm := make2(T, D)
		gtIg := make([]float64, G)
		for i, g := range sgt {
			gtIg[i] = float64(g._ignore)
		}
		dtIg := make2(T, D)
		if len(iou) != 0 {
			for tind, t := range iouThrs {
				for dind, d := range sdt {
					best := math.Min(t, 1-1e-10)
					m := -1
					for gind := range sgt {
						if gtm[tind][gind] > 0 && iscrowd[gind] == 0 {
							continue
						}
						if m > -1 && gtIg[m] == 0 && gtIg[gind] == 1 {
							break
						}
						if iou[dind][gind] < best {
							continue
						}
						best = iou[dind][gind]
						m = gind
					}
					if m == -1 {
						continue
					}
					dtIg[tind][dind] = gtIg[m]
					dtm[tind][dind] = float64(sgt[m].id)
					gtm[tind][m] = float64(d.id)
				}
			}
		}
		for tind := range T {
			for dind, d := range sdt {
				out := d.area < aRng[0] || d.area > aRng[1]
				if dtIg[tind][dind] != 0 || (dtm[tind][dind] == 0 && out) {
					dtIg[tind][dind] = 1
				} else {
					dtIg[tind][dind] = 0
				}
			}
		}
		e := &refEvalImg{dtMatches: dtm, gtMatches: gtm, gtIgnore: gtIg, dtIgnore: dtIg}
		for _, d := range sdt {
			e.dtIDs = append(e.dtIDs, d.id)
			e.dtScores = append(e.dtScores, d.score)
		}
		for _, g := range sgt {
			e.gtIDs = append(e.gtIDs, g.id)
		}
		return e
	}
	maxDet := maxDets[len(maxDets)-1]
	var evalImgs []*refEvalImg
	for _, cat := range catIDs {
		for _, aRng := range areaRng {
			for _, img := range imgIDs {
				evalImgs = append(evalImgs, evaluateImg(img, cat, aRng, maxDet))
			}
		}
	}

	// accumulate
	T, R, K, A, M := len(iouThrs), len(recThrs), len(catIDs), len(areaRng), len(maxDets)
	res := &refResult{
		precision: fill(T*R*K*A*M, -1),
		recall:    fill(T*K*A*M, -1),
		scores:    fill(T*R*K*A*M, -1),
	}
	pidx := func(t, r, k, a, m int) int { return (((t*R+r)*K+k)*A+a)*M + m }
	I0, A0 := len(imgIDs), len(areaRng)
	for k := range catIDs {
		Nk := k * A0 * I0
		for a := range areaRng {
			Na := a * I0
			for m, maxDet := range maxDets {
				var E []*refEvalImg
				for i := range imgIDs {
					if e := evalImgs[Nk+Na+i]; e != nil {
						E = append(E, e)
					}
				}
				if len(E) == 0 {
					continue
				}
				var dtScores []float64
				dtmC := make([][]float64, T)
				dtIgC := make([][]float64, T)
				var gtIg []float64
				for _, e := range E {
					n := min(maxDet, len(e.dtScores))
					dtScores = append(dtScores, e.dtScores[:n]...)
					for t := range T {
						dtmC[t] = append(dtmC[t], e.dtMatches[t][:n]...)
						dtIgC[t] = append(dtIgC[t], e.dtIgnore[t][:n]...)
					}
					gtIg = append(gtIg, e.gtIgnore...)
				}
				neg := make([]float64, len(dtScores))
				for i, s := range dtScores {
					neg[i] = -s
				}
				inds := argsortStable(neg)
				dtScoresSorted := make([]float64, len(inds))
				for i, j := range inds {
					dtScoresSorted[i] = dtScores[j]
				}
				npig := 0
				for _, g := range gtIg {
					if g == 0 {
						npig++
					}
				}
				if npig == 0 {
					continue
				}
				for t := range T {
					nd := len(inds)
					tp := make([]float64, nd)
					fp := make([]float64, nd)
					var ctp, cfp int
					for i, j := range inds {
						matched := dtmC[t][j] != 0
						ign := dtIgC[t][j] != 0
						if matched && !ign {
							ctp++
						}
						if !matched && !ign {
							cfp++
						}
						tp[i], fp[i] = float64(ctp), float64(cfp)
					}
					rc := make([]float64, nd)
					pr := make([]float64, nd)
					for i := range nd {
						rc[i] = tp[i] / float64(npig)
						pr[i] = tp[i] / (fp[i] + tp[i] + eps)
					}
					q := make([]float64, R)
					ss := make([]float64, R)
					if nd > 0 {
						res.recall[((t*K+k)*A+a)*M+m] = rc[nd-1]
					} else {
						res.recall[((t*K+k)*A+a)*M+m] = 0
					}
					for i := nd - 1; i > 0; i-- {
						if pr[i] > pr[i-1] {
							pr[i-1] = pr[i]
						}
					}
					for ri, thr := range recThrs {
						pi := sort.Search(nd, func(i int) bool { return rc[i] >= thr })
						if pi >= nd {
							break // IndexError caught by the reference's try/except
						}
						q[ri] = pr[pi]
						ss[ri] = dtScoresSorted[pi]
					}
					for r := range R {
						res.precision[pidx(t, r, k, a, m)] = q[r]
						res.scores[pidx(t, r, k, a, m)] = ss[r]
					}
				}
			}
		}
	}

	// summarize
	summ := func(ap bool, iouThr float64, aind, mind int) float64 {
		var vals []float64
		for t := range T {
			if !math.IsNaN(iouThr) && iouThrs[t] != iouThr {
				continue
			}
			if ap {
				for r := range R {
					for k := range K {
						if v := res.precision[pidx(t, r, k, aind, mind)]; v > -1 {
							vals = append(vals, v)
						}
					}
				}
			} else {
				for k := range K {
					if v := res.recall[((t*K+k)*A+aind)*M+mind]; v > -1 {
						vals = append(vals, v)
					}
				}
			}
		}
		if len(vals) == 0 {
			return -1
		}
		s := 0.0
		for _, v := range vals {
			s += v
		}
		return s / float64(len(vals))
	}
	nan := math.NaN()
	res.stats = [12]float64{
		summ(true, nan, 0, 2), summ(true, .5, 0, 2), summ(true, .75, 0, 2),
		summ(true, nan, 1, 2), summ(true, nan, 2, 2), summ(true, nan, 3, 2),
		summ(false, nan, 0, 0), summ(false, nan, 0, 1), summ(false, nan, 0, 2),
		summ(false, nan, 1, 2), summ(false, nan, 2, 2), summ(false, nan, 3, 2),
	}
	return res
}

func make2(a, b int) [][]float64 {
	out := make([][]float64, a)
	for i := range out {
		out[i] = make([]float64, b)
	}
	return out
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}
