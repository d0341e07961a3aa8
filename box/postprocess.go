package box

import (
	"cmp"
	"fmt"
	"slices"
)

// PostProcessConfig configures PostProcess (mmdetection's RetinaNet test_cfg).
type PostProcessConfig struct {
	// PreNMSTopK is the number of (anchor, class) pairs kept per level
	// before NMS (nms_pre). Default 1000; <= 0 keeps all.
	PreNMSTopK int `yaml:"pre_nms_topk"`
	// ScoreThresh: only pairs with probability > ScoreThresh (strictly, as
	// mmdetection's score_thr) are candidates. Default 0.05.
	ScoreThresh float32 `yaml:"score_thresh"`
	// NMSIoU is the per-class NMS threshold: a box is suppressed by a
	// higher-scored kept box of its class when their IoU is > NMSIoU.
	// Default 0.5.
	NMSIoU float32 `yaml:"nms_iou"`
	// MaxDetections is the most detections returned per image (max_per_img).
	// Default 100; <= 0 returns all.
	MaxDetections int `yaml:"max_detections"`
	// MinSize: decoded, clipped boxes whose width or height is not > MinSize
	// are dropped (mmdetection's min_bbox_size 0 drops empty boxes).
	// Default 0; < 0 keeps boxes of any size. Boxes with NaN coordinates
	// are always dropped.
	MinSize float32 `yaml:"min_size"`
}

// DefaultPostProcessConfig returns the reference inference settings: top 1000
// per level, score > 0.05, NMS at 0.5, 100 detections, min size 0.
func DefaultPostProcessConfig() PostProcessConfig {
	return PostProcessConfig{PreNMSTopK: 1000, ScoreThresh: 0.05, NMSIoU: 0.5, MaxDetections: 100, MinSize: 0}
}

// Detection is one detected object.
type Detection struct {
	// Box is x1, y1, x2, y2 in pixels of the network's input image.
	Box Box
	// Score is the class probability.
	Score float32
	// Class is the contiguous class index.
	Class int
}

type candidate struct {
	score float32
	k     int32 // flat index anchor*C + class within the level
}

// worse orders candidates: lower score, or equal score and later index.
func worse(a, b candidate) bool {
	return a.score < b.score || (a.score == b.score && a.k > b.k)
}

// topK is a bounded min-heap of the best candidates seen so far.
type topK struct {
	h []candidate
	k int
}

func (t *topK) push(c candidate) {
	if t.k <= 0 || len(t.h) < t.k {
		t.h = append(t.h, c)
		if t.k > 0 {
			t.up(len(t.h) - 1)
		}
		return
	}
	if !worse(t.h[0], c) {
		return
	}
	t.h[0] = c
	t.down(0)
}

// selectAbove pushes every p[k] > thr with index k. Once the heap is full,
// only values above both thr and the heap's worst can enter (a value equal to
// the worst has a later index and loses the tie), so the scan compares each
// value with that cut and rarely branches.
func (t *topK) selectAbove(p []float32, thr float32) {
	cut := thr
	for k, s := range p {
		if s > cut {
			t.push(candidate{s, int32(k)})
			if t.k > 0 && len(t.h) == t.k && t.h[0].score > cut {
				cut = t.h[0].score
			}
		}
	}
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(t.h[i], t.h[p]) {
			return
		}
		t.h[i], t.h[p] = t.h[p], t.h[i]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && worse(t.h[r], t.h[l]) {
			m = r
		}
		if !worse(t.h[m], t.h[i]) {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// PostProcess turns the head outputs of one image into detections, as
// mmdetection's RetinaNet test pipeline (2.x filter_scores_and_topk):
//
//  1. Per level l, over all (anchor, class) pairs of the level with
//     probability > ScoreThresh, keep the PreNMSTopK best by probability
//     (ties: lower anchor, then lower class first). An anchor can thus
//     contribute several classes. (The 1.x pipeline of the original GHM
//     release instead kept the top 1000 anchors by their maximum class
//     probability and thresholded afterwards.)
//  2. Decode the kept pairs' boxes with coder, clip them to
//     [0, imgW] x [0, imgH], and drop boxes that are not larger than
//     MinSize or have NaN coordinates.
//  3. Per-class NMS at NMSIoU over the pairs of all levels, then keep the
//     MaxDetections best by score (ties: lower level, anchor, class first).
//
// probs[l] holds the sigmoid probabilities of level l, [N_l*C] anchor-major
// (anchor i, class c at i*C+c, anchors in anchors.Level(l) order), and
// deltas[l] the box deltas, [N_l*4]. Detections are returned by score
// descending. It returns an error when the lengths disagree.
func PostProcess(anchors Anchors, probs, deltas [][]float32, numClasses, imgW, imgH int, coder Coder, cfg PostProcessConfig) ([]Detection, error) {
	if numClasses <= 0 {
		return nil, fmt.Errorf("post-process: %d classes, want at least 1", numClasses)
	}
	L := len(anchors.Levels)
	if len(probs) != L || len(deltas) != L {
		return nil, fmt.Errorf("post-process: %d probability and %d delta levels for %d anchor levels", len(probs), len(deltas), L)
	}
	C := numClasses
	for l := 0; l < L; l++ {
		n := anchors.Levels[l].Count
		if len(probs[l]) != n*C {
			return nil, fmt.Errorf("post-process: level %d has %d probabilities, want %d anchors x %d classes", l, len(probs[l]), n, C)
		}
		if len(deltas[l]) != n*4 {
			return nil, fmt.Errorf("post-process: level %d has %d deltas, want %d anchors x 4", l, len(deltas[l]), n)
		}
	}
	maxD := coder.MaxDeltaWH()
	clip := imgW > 0 && imgH > 0
	var (
		boxes   []Box
		scores  []float32
		classes []int
		tk      = topK{k: cfg.PreNMSTopK}
	)
	for l := 0; l < L; l++ {
		lvAnchors := anchors.Level(l)
		tk.h = tk.h[:0]
		tk.selectAbove(probs[l], cfg.ScoreThresh)
		slices.SortFunc(tk.h, func(a, b candidate) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.k, b.k)
		})
		d := deltas[l]
		for _, c := range tk.h {
			i := int(c.k) / C
			b := coder.decode(lvAnchors[i], [4]float32(d[4*i:4*i+4]), maxD, float32(imgW), float32(imgH), clip)
			w, h := b.Width(), b.Height()
			if !(finite(b[0]) && finite(b[1]) && finite(b[2]) && finite(b[3])) {
				continue
			}
			if cfg.MinSize >= 0 && !(w > cfg.MinSize && h > cfg.MinSize) {
				continue
			}
			boxes = append(boxes, b)
			scores = append(scores, c.score)
			classes = append(classes, int(c.k)%C)
		}
	}
	keep := BatchedNMS(boxes, scores, classes, cfg.NMSIoU, cfg.MaxDetections)
	out := make([]Detection, len(keep))
	for n, i := range keep {
		out[n] = Detection{Box: boxes[i], Score: scores[i], Class: classes[i]}
	}
	return out, nil
}
