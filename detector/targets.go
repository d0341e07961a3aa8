package detector

import (
	"fmt"
	"sync"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/loader"
)

// batchTargets holds the loss targets of one batch, laid out as the training
// graph takes them: class targets [B,N,K], class weights [B,N], box targets
// [B,N,4] and box weights [B,N,4].
type batchTargets struct {
	clsT, clsW, boxT, boxW         []float32
	numPos, numIgnored, numPadding int
	perImage                       []box.Targets
	valid                          [][]bool
}

// buildTargets assigns the anchors of every image of the batch in parallel.
// The anchors of the feature-map cells on an image's padding (outside its
// resized region, b.Records[i].ResizedW x ResizedH) get weight 0 in every
// loss and are never matched, as in the reference.
func buildTargets(dst *batchTargets, anchors box.Anchors, b *loader.Batch, numClasses int, cfg box.TargetConfig) error {
	n := len(anchors.Boxes)
	bs := len(b.Targets)
	grow := func(s []float32, size int) []float32 {
		if cap(s) < size {
			return make([]float32, size)
		}
		return s[:size]
	}
	dst.clsT = grow(dst.clsT, bs*n*numClasses)
	dst.clsW = grow(dst.clsW, bs*n)
	dst.boxT = grow(dst.boxT, bs*n*4)
	dst.boxW = grow(dst.boxW, bs*n*4)
	if len(dst.perImage) != bs {
		dst.perImage = make([]box.Targets, bs)
		dst.valid = make([][]bool, bs)
	}
	errs := make([]error, bs)
	var wg sync.WaitGroup
	for i := 0; i < bs; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t := &dst.perImage[i]
			t.ClassTargets = dst.clsT[i*n*numClasses : (i+1)*n*numClasses]
			t.ClassWeights = dst.clsW[i*n : (i+1)*n]
			t.BoxTargets = dst.boxT[i*n*4 : (i+1)*n*4]
			t.BoxWeights = dst.boxW[i*n*4 : (i+1)*n*4]
			tg := b.Targets[i]
			gts := make([]box.Box, len(tg.Boxes))
			for j, bx := range tg.Boxes {
				gts[j] = box.Box(bx)
			}
			rec := b.Records[i]
			dst.valid[i] = anchors.ValidMask(dst.valid[i], rec.ResizedW, rec.ResizedH)
			if err := box.BuildTargetsInto(t, anchors, dst.valid[i], gts, tg.Classes, tg.Ignore, numClasses, cfg); err != nil {
				errs[i] = fmt.Errorf("targets of image id %d: %w", b.ImageIDs[i], err)
			}
		}(i)
	}
	wg.Wait()
	dst.numPos, dst.numIgnored, dst.numPadding = 0, 0, 0
	for i, err := range errs {
		if err != nil {
			return err
		}
		dst.numPos += dst.perImage[i].NumPos
		dst.numIgnored += dst.perImage[i].NumIgnored
		dst.numPadding += dst.perImage[i].NumPadding
	}
	return nil
}
