package eval

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// genConfig describes a random evaluation case.
type genConfig struct {
	images, cats int
	gtPerImage   int     // mean annotations per image
	detsPerImage int     // mean detections per image
	crowdFrac    float64 // fraction of crowd annotations
	// tricky adds the reference's edge cases: area fields unlike w*h, areas
	// exactly at 32^2 and 96^2, boxes of zero size, a ground truth with id 0,
	// more than 100 detections for one (image, category), duplicate boxes,
	// coarse scores (many ties), images without annotations or detections.
	tricky bool
}

// genCase makes a random ground truth and detections from seed.
func genCase(seed uint64, cfg genConfig) (*GroundTruth, []Detection) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	gt := &GroundTruth{}
	// Non-contiguous, shuffled ids.
	imgID := int64(1000)
	for range cfg.images {
		imgID += 1 + int64(rng.IntN(7))
		w, h := 320+rng.IntN(700), 240+rng.IntN(500)
		gt.Images = append(gt.Images, Image{ID: imgID, Width: w, Height: h})
	}
	rng.Shuffle(len(gt.Images), func(a, b int) { gt.Images[a], gt.Images[b] = gt.Images[b], gt.Images[a] })
	catID := 0
	for range cfg.cats {
		catID += 1 + rng.IntN(3)
		gt.Categories = append(gt.Categories, Category{ID: catID, Name: "c" + strconv.Itoa(catID)})
	}
	rng.Shuffle(len(gt.Categories), func(a, b int) { gt.Categories[a], gt.Categories[b] = gt.Categories[b], gt.Categories[a] })

	annID := int64(0)
	usedZero := false
	var dets []Detection
	quant := 1000.0
	if cfg.tricky {
		quant = 20 // many tied scores
	}
	score := func(base float64) float64 {
		s := math.Min(1, math.Max(0, base+rng.NormFloat64()*0.15))
		return math.Round(s*quant) / quant
	}
	for _, im := range gt.Images {
		W, H := float64(im.Width), float64(im.Height)
		// A few categories present in this image.
		present := make([]int, 1+rng.IntN(3))
		for i := range present {
			present[i] = gt.Categories[rng.IntN(len(gt.Categories))].ID
		}
		nGT := rng.IntN(2*cfg.gtPerImage + 1)
		if cfg.tricky && rng.IntN(6) == 0 {
			nGT = 0
		}
		var boxes [][4]float64
		var boxCats []int
		for range nGT {
			b := randBox(rng, W, H)
			area := b[2] * b[3]
			if cfg.tricky {
				switch rng.IntN(10) {
				case 0:
					area *= 0.3 + rng.Float64() // segmentation area unlike w*h
				case 1:
					area = 32 * 32
				case 2:
					area = 96 * 96
				case 3:
					b[2], b[3] = 32, 32
					area = 1024
				case 4:
					b[2], b[3] = 96, 96
					area = 9216
				}
			}
			annID += 1 + int64(rng.IntN(3))
			id := annID
			c := present[rng.IntN(len(present))]
			if cfg.tricky && len(boxes) > 0 && rng.IntN(6) == 0 {
				// An identical box in the same category: IoU ties, which
				// go to the later ground truth (observable with id 0).
				b, c = boxes[len(boxes)-1], boxCats[len(boxes)-1]
				area = b[2] * b[3]
				if !usedZero && rng.IntN(2) == 0 {
					id, usedZero = 0, true
				}
			}
			if cfg.tricky && !usedZero && rng.IntN(15) == 0 {
				id, usedZero = 0, true
			}
			gt.Annotations = append(gt.Annotations, Annotation{
				ID: id, ImageID: im.ID, CategoryID: c, BBox: b, Area: area,
				IsCrowd: rng.Float64() < cfg.crowdFrac,
			})
			boxes = append(boxes, b)
			boxCats = append(boxCats, c)
		}
		nDet := rng.IntN(2*cfg.detsPerImage + 1)
		if cfg.tricky && rng.IntN(6) == 0 {
			nDet = 0
		}
		burstCat := 0
		if cfg.tricky && rng.IntN(8) == 0 {
			burstCat = present[0] // > 100 detections in one (image, category)
			nDet += 100 + rng.IntN(60)
		}
		for j := range nDet {
			var d Detection
			d.ImageID = im.ID
			switch {
			case burstCat != 0 && j >= nDet-100:
				d.CategoryID = burstCat
				d.BBox = randBox(rng, W, H)
				d.Score = score(0.3)
			case len(boxes) > 0 && rng.Float64() < 0.6:
				// Near a ground truth, sometimes in the wrong category.
				g := rng.IntN(len(boxes))
				d.BBox = jitter(rng, boxes[g], 0.4*rng.Float64())
				d.CategoryID = boxCats[g]
				if rng.IntN(8) == 0 {
					d.CategoryID = gt.Categories[rng.IntN(len(gt.Categories))].ID
				}
				d.Score = score(0.6)
			default:
				d.BBox = randBox(rng, W, H)
				d.CategoryID = present[rng.IntN(len(present))]
				if rng.IntN(3) == 0 {
					d.CategoryID = gt.Categories[rng.IntN(len(gt.Categories))].ID
				}
				d.Score = score(0.25)
			}
			if cfg.tricky {
				switch rng.IntN(30) {
				case 0:
					d.BBox[2] = 0 // zero width
				case 2:
					d.BBox[2], d.BBox[3] = 32, 32 // area exactly 32^2
				case 3:
					d.BBox[2], d.BBox[3] = 96, 96 // area exactly 96^2
				case 1:
					if len(dets) > 0 && dets[len(dets)-1].ImageID == im.ID {
						d = dets[len(dets)-1] // duplicate
					}
				}
			}
			dets = append(dets, d)
		}
	}
	rng.Shuffle(len(dets), func(a, b int) { dets[a], dets[b] = dets[b], dets[a] })
	return gt, dets
}

// randBox returns a box inside a W x H image, with sizes spread over the
// small, medium and large ranges.
func randBox(rng *rand.Rand, W, H float64) [4]float64 {
	w := math.Exp(math.Log(4) + rng.Float64()*(math.Log(W*0.9)-math.Log(4)))
	h := math.Min(H*0.95, w*(0.4+1.6*rng.Float64()))
	x := rng.Float64() * (W - w)
	y := rng.Float64() * (H - h)
	return [4]float64{x, y, w, h}
}

// jitter moves and rescales a box by up to s of its size.
func jitter(rng *rand.Rand, b [4]float64, s float64) [4]float64 {
	w := b[2] * (1 + s*(2*rng.Float64()-1))
	h := b[3] * (1 + s*(2*rng.Float64()-1))
	return [4]float64{b[0] + s*b[2]*(2*rng.Float64()-1), b[1] + s*b[3]*(2*rng.Float64()-1), math.Max(0, w), math.Max(0, h)}
}
