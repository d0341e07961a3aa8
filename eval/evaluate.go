package eval

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ghmdet/ghmdet/data/coco"
)

// maxKept is the largest of MaxDets: detections kept per (image, category).
const maxKept = 100

// cell is one (category, image) pair with ground truths or detections: an
// entry of the reference's evalImgs that is not None.
type cell struct {
	k      int32 // category index (ascending ids)
	d0, d1 int32 // range in detOrder
	g0, g1 int32 // range in gtOrder
	kept   int32 // offset of its kept detections in the kept arrays
	// npig counts the ground truths that are not ignored, per area range.
	npig [numArea]int32
}

// evaluation is the state shared by the two phases of Evaluate.
type evaluation struct {
	gt   *GroundTruth
	dets []Detection
	nK   int // categories

	detOrder []int32 // detections sorted by (category, image, input order)
	gtOrder  []int32 // annotations sorted the same way
	cells    []cell  // sorted by (category, image)
	catCell  []int32 // category k owns cells catCell[k] .. catCell[k+1]-1

	// Kept detections: the top 100 of each cell, cells in order, each cell's
	// in descending score order (the per-image lists that the reference
	// concatenates per category).
	keptScore []float64
	keptRank  []uint8             // rank within its cell (0..99)
	keptMatch [][numArea]uint16   // bit t: matched to a ground truth with nonzero id at IoU threshold t
	keptIgn   [][numArea]uint16   // bit t: ignored at IoU threshold t
	iouThr    [numIoU]float64     // min(t, 1-1e-10)
	areaRng   [numArea][2]float64 // area range bounds

	res *Result
}

// Evaluate computes the COCO box metrics of dets against gt with the
// reference evaluator's rules (see the package documentation). Both inputs
// are validated; errors name the offending record. dets may be empty.
func Evaluate(gt *GroundTruth, dets []Detection, opts Options) (*Result, error) {
	if gt == nil {
		return nil, errors.New("eval: no ground truth")
	}
	if err := gt.Validate(); err != nil {
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	if len(dets) >= math.MaxInt32 || len(gt.Annotations) >= math.MaxInt32 {
		return nil, fmt.Errorf("eval: %d detections and %d annotations: more than this evaluator indexes (2^31-1)", len(dets), len(gt.Annotations))
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	// Images and categories in ascending id order, as the reference's
	// np.unique(p.imgIds) and sorted(p.catIds).
	imgIDs := make([]int64, len(gt.Images))
	for i, im := range gt.Images {
		imgIDs[i] = im.ID
	}
	slices.Sort(imgIDs)
	imgIndex := make(map[int64]int32, len(imgIDs))
	for i, id := range imgIDs {
		imgIndex[id] = int32(i)
	}
	cats := slices.Clone(gt.Categories)
	slices.SortFunc(cats, func(a, b Category) int { return cmp.Compare(a.ID, b.ID) })
	catIndex := make(map[int]int32, len(cats))
	for k, c := range cats {
		catIndex[c.ID] = int32(k)
	}
	nK, nI := len(cats), len(imgIDs)

	// Category and image index of every detection and annotation.
	dk := make([]int32, len(dets))
	di := make([]int32, len(dets))
	for j := range dets {
		d := &dets[j]
		i, iok := imgIndex[d.ImageID]
		k, kok := catIndex[d.CategoryID]
		if err := coco.CheckDetection(d, iok, kok); err != nil {
			return nil, fmt.Errorf("detections[%d]: %w", j, err)
		}
		dk[j], di[j] = k, i
	}
	gk := make([]int32, len(gt.Annotations))
	gi := make([]int32, len(gt.Annotations))
	for j := range gt.Annotations {
		a := &gt.Annotations[j]
		gk[j], gi[j] = catIndex[a.CategoryID], imgIndex[a.ImageID]
	}

	e := &evaluation{
		gt:       gt,
		dets:     dets,
		nK:       nK,
		detOrder: bucketSort(dk, di, nK, nI),
		gtOrder:  bucketSort(gk, gi, nK, nI),
	}
	for t, thr := range IoUThresholds {
		e.iouThr[t] = min(thr, 1-1e-10)
	}
	for a, r := range AreaRanges {
		e.areaRng[a] = [2]float64{r.Min, r.Max}
	}
	e.buildCells(dk, di, gk, gi)

	nKept := 0
	if len(e.cells) > 0 {
		last := e.cells[len(e.cells)-1]
		nKept = int(last.kept) + min(int(last.d1-last.d0), maxKept)
	}
	e.keptScore = make([]float64, nKept)
	e.keptRank = make([]uint8, nKept)
	e.keptMatch = make([][numArea]uint16, nKept)
	e.keptIgn = make([][numArea]uint16, nKept)

	res := &Result{
		NumImages:   nI,
		PerCategory: make([]CategoryResult, nK),
		Precision:   make([]float64, numIoU*numRec*nK*numArea*numMax),
		Recall:      make([]float64, numIoU*nK*numArea*numMax),
		Scores:      make([]float64, numIoU*numRec*nK*numArea*numMax),
	}
	for j := range res.Precision {
		res.Precision[j] = -1
		res.Scores[j] = -1
	}
	for j := range res.Recall {
		res.Recall[j] = -1
	}
	for k, c := range cats {
		res.PerCategory[k].ID = c.ID
		res.PerCategory[k].Name = c.Name
	}
	for j := range dets {
		res.PerCategory[dk[j]].NumDets++
	}
	for j := range gt.Annotations {
		if gt.Annotations[j].IsCrowd {
			res.PerCategory[gk[j]].NumCrowd++
		} else {
			res.PerCategory[gk[j]].NumGT++
		}
	}
	e.res = res

	// Phase 1: match detections per cell. Phase 2: accumulate per category.
	const chunk = 64
	parallel(workers, (len(e.cells)+chunk-1)/chunk, func() func(int) {
		var w cellWorker
		return func(c int) {
			for j := c * chunk; j < min((c+1)*chunk, len(e.cells)); j++ {
				e.evalCell(&w, &e.cells[j])
			}
		}
	})
	// Largest categories first, for a better balance between workers.
	order := make([]int, nK)
	for k := range order {
		order[k] = k
	}
	kept := func(k int) int32 {
		c0, c1 := e.catCell[k], e.catCell[k+1]
		if c0 == c1 {
			return 0
		}
		return e.cells[c1-1].kept + min(e.cells[c1-1].d1-e.cells[c1-1].d0, maxKept) - e.cells[c0].kept
	}
	sort.SliceStable(order, func(a, b int) bool { return kept(order[a]) > kept(order[b]) })
	parallel(workers, nK, func() func(int) {
		var w accWorker
		return func(j int) { e.accumulate(&w, order[j]) }
	})

	summarize(res)
	return res, nil
}

// parallel runs task(0..n-1) on up to workers goroutines; newTask makes each
// goroutine's task function (with its own scratch space).
func parallel(workers, n int, newTask func() func(int)) {
	workers = min(workers, n)
	if workers <= 1 {
		if n > 0 {
			task := newTask()
			for j := range n {
				task(j)
			}
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := newTask()
			for {
				j := int(next.Add(1) - 1)
				if j >= n {
					return
				}
				task(j)
			}
		}()
	}
	wg.Wait()
}

// bucketSort returns the record indices sorted by (category, image, input
// order): two stable counting sorts, by image then by category.
func bucketSort(k, img []int32, nK, nI int) []int32 {
	n := len(k)
	tmp := make([]int32, n)
	out := make([]int32, n)
	count := make([]int32, max(nK, nI)+1)
	for _, i := range img {
		count[i+1]++
	}
	for i := 1; i <= nI; i++ {
		count[i] += count[i-1]
	}
	for j := range n {
		tmp[count[img[j]]] = int32(j)
		count[img[j]]++
	}
	clear(count)
	for _, c := range k {
		count[c+1]++
	}
	for c := 1; c <= nK; c++ {
		count[c] += count[c-1]
	}
	for _, j := range tmp {
		out[count[k[j]]] = j
		count[k[j]]++
	}
	return out
}

// buildCells groups the sorted detections and annotations into cells.
func (e *evaluation) buildCells(dk, di, gk, gi []int32) {
	key := func(k, i []int32, order []int32, p int) int64 {
		if p >= len(order) {
			return 1<<63 - 1
		}
		j := order[p]
		return int64(k[j])<<32 | int64(i[j])
	}
	e.cells = e.cells[:0]
	e.catCell = make([]int32, e.nK+1)
	var dp, gp int
	var kept int32
	for dp < len(e.detOrder) || gp < len(e.gtOrder) {
		cur := min(key(dk, di, e.detOrder, dp), key(gk, gi, e.gtOrder, gp))
		c := cell{k: int32(cur >> 32), d0: int32(dp), g0: int32(gp), kept: kept}
		for key(dk, di, e.detOrder, dp) == cur {
			dp++
		}
		for key(gk, gi, e.gtOrder, gp) == cur {
			gp++
		}
		c.d1, c.g1 = int32(dp), int32(gp)
		kept += min(c.d1-c.d0, maxKept)
		e.cells = append(e.cells, c)
		e.catCell[c.k+1]++
	}
	for k := 1; k <= e.nK; k++ {
		e.catCell[k] += e.catCell[k-1]
	}
}

// scored is a detection's score and index, for sorting.
type scored struct {
	score float64
	idx   int32
}

// byScore orders by descending score, then ascending index: a stable sort
// by descending score of a list in index order. Scores are never NaN.
func byScore(a, b scored) int {
	switch {
	case a.score > b.score:
		return -1
	case a.score < b.score:
		return 1
	}
	return int(a.idx - b.idx)
}

// cellWorker is one goroutine's scratch space for evalCell.
type cellWorker struct {
	sorted  []scored  // the cell's detections, sorted by score
	dets    []int32   // the kept ones (indices into the detections)
	iou     []float64 // kept detections x ground truths (input order)
	best    []float64 // each kept detection's largest IoU
	siou    []float64 // the same with the ground truths in matching order
	gOrd    []int32   // ground truths in matching order (not ignored first)
	gIg     []bool    // ignore flag, in matching order
	gCrowd  []bool    // crowd flag, in matching order
	gZeroID []bool    // id == 0, in matching order
	gTaken  []bool    // matched at the current threshold, in matching order
}

// grow returns s resized to n, reusing its storage.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// evalCell does the reference's computeIoU and evaluateImg for one cell
// (maxDet 100, all area ranges).
func (e *evaluation) evalCell(w *cellWorker, c *cell) {
	// Detections: stable sort by descending score (the input index breaks
	// ties: the cell lists its detections in input order), keep 100.
	w.sorted = w.sorted[:0]
	for _, j := range e.detOrder[c.d0:c.d1] {
		w.sorted = append(w.sorted, scored{e.dets[j].Score, j})
	}
	slices.SortFunc(w.sorted, byScore)
	D := min(len(w.sorted), maxKept)
	w.dets = grow(w.dets, D)
	dets := w.dets
	for r, sd := range w.sorted[:D] {
		dets[r] = sd.idx
		e.keptScore[int(c.kept)+r] = sd.score
		e.keptRank[int(c.kept)+r] = uint8(r)
	}
	gts := e.gtOrder[c.g0:c.g1]
	G := len(gts)
	anns := e.gt.Annotations

	// IoU matrix, as maskApi.c's bbIou, and each detection's best IoU: a
	// detection whose best IoU is below a threshold matches nothing there.
	w.iou = grow(w.iou, D*G)
	w.best = grow(w.best, D)
	if G > 0 {
		for r, j := range dets {
			row := w.iou[r*G : (r+1)*G]
			db := &e.dets[j].BBox
			best := 0.0
			for g, a := range gts {
				v := boxIoU(db, &anns[a].BBox, anns[a].IsCrowd)
				row[g] = v
				best = max(best, v)
			}
			w.best[r] = best
		}
	}

	w.gOrd = grow(w.gOrd, G)
	w.gIg = grow(w.gIg, G)
	w.gCrowd = grow(w.gCrowd, G)
	w.gZeroID = grow(w.gZeroID, G)
	w.gTaken = grow(w.gTaken, G)
	w.siou = grow(w.siou, D*G)
	for a := range numArea {
		lo, hi := e.areaRng[a][0], e.areaRng[a][1]
		// Ground truths: ignored when crowd or outside the area range;
		// stable sort with the ignored ones last.
		n := 0
		for pass := range 2 {
			for g, j := range gts {
				ann := &anns[j]
				ig := ann.IsCrowd || ann.Area < lo || ann.Area > hi
				if ig != (pass == 1) {
					continue
				}
				w.gOrd[n] = int32(g)
				w.gIg[n] = ig
				w.gCrowd[n] = ann.IsCrowd
				w.gZeroID[n] = ann.ID == 0
				n++
			}
			if pass == 0 {
				c.npig[a] = int32(n)
			}
		}
		for r := range D {
			src := w.iou[r*G : (r+1)*G]
			dst := w.siou[r*G : (r+1)*G]
			for g := range G {
				dst[g] = src[w.gOrd[g]]
			}
		}
		for r, j := range dets {
			b := &e.dets[j].BBox
			area := b[2] * b[3]
			e.keptMatch[int(c.kept)+r][a] = 0
			e.keptIgn[int(c.kept)+r][a] = 0
			if area < lo || area > hi {
				// Unmatched detections outside the range are ignored; the
				// matching below clears the bits of matched ones.
				e.keptIgn[int(c.kept)+r][a] = 1<<numIoU - 1
			}
		}
		if G == 0 {
			continue
		}
		for t := range numIoU {
			clear(w.gTaken[:G])
			bit := uint16(1) << t
			for r := range D {
				iou := e.iouThr[t]
				if w.best[r] < iou {
					continue
				}
				m := -1
				row := w.siou[r*G : (r+1)*G]
				for g := range G {
					if w.gTaken[g] && !w.gCrowd[g] {
						continue
					}
					if m > -1 && !w.gIg[m] && w.gIg[g] {
						break
					}
					if row[g] < iou {
						continue
					}
					iou = row[g]
					m = g
				}
				if m == -1 {
					continue
				}
				w.gTaken[m] = true
				k := int(c.kept) + r
				if w.gZeroID[m] {
					// dtm holds id 0: unmatched for the reference, and
					// ignored when the ground truth is or when outside the range.
					if w.gIg[m] {
						e.keptIgn[k][a] |= bit
					}
					continue
				}
				e.keptMatch[k][a] |= bit
				if w.gIg[m] {
					e.keptIgn[k][a] |= bit
				} else {
					e.keptIgn[k][a] &^= bit
				}
			}
		}
	}
}

// boxIoU is maskApi.c's bbIou for one pair of (x, y, w, h) boxes: for a crowd
// ground truth the union is the detection's area.
func boxIoU(d, g *[4]float64, crowd bool) float64 {
	w := min(d[2]+d[0], g[2]+g[0]) - max(d[0], g[0])
	if w <= 0 {
		return 0
	}
	h := min(d[3]+d[1], g[3]+g[1]) - max(d[1], g[1])
	if h <= 0 {
		return 0
	}
	i := w * h
	da := d[2] * d[3]
	if crowd {
		return i / da
	}
	ga := g[2] * g[3]
	return i / (da + ga - i)
}

// accWorker is one goroutine's scratch space for accumulate.
type accWorker struct {
	sorted []scored
	order  []int32 // kept detections of the category, sorted
	sel    []int32 // those within the current maxDets
	// True positives per IoU threshold, in order: the precision reached
	// there and the detection's position in sel.
	tpPr  [numIoU][]float64
	tpPos [numIoU][]int32
}

// accumulate does the reference's accumulate for category k: precision,
// recall and scores for every IoU threshold, area range and maxDets.
//
// The reference computes recall and precision after every detection, makes
// precision non-increasing from the right and samples it at the first
// detection whose recall reaches each recall threshold. Recall only grows
// at true positives, so for a threshold above 0 that detection is a true
// positive, and the suffix maximum of precision from a true positive is the
// maximum over the true positives from there on (precision falls at false
// positives and stays at ignored detections). For threshold 0 it is the
// first detection, whose precision is 0 unless it is a true positive. So
// only true positives need floating-point work; the values are computed
// with the reference's expressions and are bit-identical.
func (e *evaluation) accumulate(w *accWorker, k int) {
	cells := e.cells[e.catCell[k]:e.catCell[k+1]]
	if len(cells) == 0 {
		return
	}
	var npig [numArea]int
	for _, c := range cells {
		for a := range numArea {
			npig[a] += int(c.npig[a])
		}
	}
	k0 := cells[0].kept
	last := cells[len(cells)-1]
	k1 := last.kept + min(last.d1-last.d0, maxKept)

	// The concatenated per-image lists, stably sorted by descending score:
	// ties keep the concatenation order (image order, then rank).
	w.order = grow(w.order, int(k1-k0))
	w.sorted = w.sorted[:0]
	for j := k0; j < k1; j++ {
		w.sorted = append(w.sorted, scored{e.keptScore[j], j})
	}
	slices.SortFunc(w.sorted, byScore)
	for x, sd := range w.sorted {
		w.order[x] = sd.idx
	}

	res := e.res
	nK := e.nK
	for m, maxDet := range MaxDets {
		w.sel = w.sel[:0]
		for _, j := range w.order {
			if int(e.keptRank[j]) < maxDet {
				w.sel = append(w.sel, j)
			}
		}
		nd := len(w.sel)
		for a := range numArea {
			if npig[a] == 0 {
				continue // precision and recall stay -1
			}
			np := float64(npig[a])
			for t := range numIoU {
				w.tpPr[t] = w.tpPr[t][:0]
				w.tpPos[t] = w.tpPos[t][:0]
			}
			// One pass for all thresholds: count ignored detections and
			// record each true positive with its precision.
			var nIgn [numIoU]int
			for x, j := range w.sel {
				mm, ig := e.keptMatch[j][a], e.keptIgn[j][a]
				for b := ig; b != 0; b &= b - 1 {
					nIgn[bitIndex(b)]++
				}
				for b := mm &^ ig; b != 0; b &= b - 1 {
					t := bitIndex(b)
					tp := len(w.tpPr[t]) + 1
					fp := x + 1 - nIgn[t] - tp
					w.tpPr[t] = append(w.tpPr[t], float64(tp)/(float64(fp)+float64(tp)+eps))
					w.tpPos[t] = append(w.tpPos[t], int32(x))
				}
			}
			for t := range numIoU {
				prs, pos := w.tpPr[t], w.tpPos[t]
				ntp := len(prs)
				recall := 0.0
				if nd > 0 {
					recall = float64(ntp) / np
				}
				res.Recall[((t*nK+k)*numArea+a)*numMax+m] = recall
				for i := ntp - 1; i > 0; i-- {
					if prs[i] > prs[i-1] {
						prs[i-1] = prs[i]
					}
				}
				// searchsorted(rc, recThrs, side="left"); positions past the
				// end leave 0, as the reference's try/except does.
				i := 0
				for r, thr := range RecallThresholds {
					idx := res.precIndex(t, r, k, a, m)
					if thr <= 0 {
						if nd == 0 {
							res.Precision[idx], res.Scores[idx] = 0, 0
							continue
						}
						p := 0.0
						if ntp > 0 {
							p = prs[0]
						}
						res.Precision[idx] = p
						res.Scores[idx] = e.keptScore[w.sel[0]]
						continue
					}
					for i < ntp && float64(i+1)/np < thr {
						i++
					}
					if i >= ntp {
						res.Precision[idx], res.Scores[idx] = 0, 0
						continue
					}
					res.Precision[idx] = prs[i]
					res.Scores[idx] = e.keptScore[w.sel[pos[i]]]
				}
			}
		}
	}
}

// bitIndex returns the index of the lowest set bit of a nonzero mask.
func bitIndex(mask uint16) int { return bits.TrailingZeros16(mask) }
