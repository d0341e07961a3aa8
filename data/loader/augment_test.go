package loader

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/augment"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
)

// palette is the colour of each class in rectDataset's images.
var palette = [6][3]float64{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}, {0, 255, 255}, {255, 0, 255}}

// rectDataset writes n black images of varied sizes (some portrait), each
// with 4 solid rectangles, one per quarter of the image, separated by
// black gaps, coloured by class (palette) and annotated exactly. Object ids
// are unique; some objects are difficult or crowd.
func rectDataset(t *testing.T, n int) *data.Dataset {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	ds := &data.Dataset{Name: "rects", Classes: []string{"r", "g", "b", "y", "c", "m"}, CategoryIDs: []int{1, 2, 3, 4, 5, 6}}
	for i := 0; i < n; i++ {
		w, h := 110+9*i, 80+7*(i%5)
		if i%4 == 3 {
			w, h = h, w
		}
		m := imageio.NewRGB(w, h)
		im := data.Image{ID: int64(100 + i), FileName: fmt.Sprintf("%03d.png", i), Width: w, Height: h}
		classes := rng.Perm(6)
		for q := 0; q < 4; q++ {
			// Quarter q, a rectangle of at least 8 px keeping 2 px from
			// the quarter's inner edges.
			qx, qy := (q%2)*w/2, (q/2)*h/2
			qw, qh := w/2-2, h/2-2
			rw, rh := 8+rng.IntN(qw-8), 8+rng.IntN(qh-8)
			x1, y1 := qx+rng.IntN(qw-rw+1), qy+rng.IntN(qh-rh+1)
			if q%2 == 1 {
				x1 += 2
			}
			if q/2 == 1 {
				y1 += 2
			}
			x2, y2 := min(x1+rw, w), min(y1+rh, h)
			k := classes[q]
			c := palette[k]
			for y := y1; y < y2; y++ {
				for x := x1; x < x2; x++ {
					m.Set(x, y, uint8(c[0]), uint8(c[1]), uint8(c[2]))
				}
			}
			im.Objects = append(im.Objects, data.Object{ID: int64(1000*i + q), Class: k,
				Box: [4]float64{float64(x1), float64(y1), float64(x2), float64(y2)}, Difficult: q == 1, Crowd: q == 2 && i%2 == 0})
		}
		im.Path = filepath.Join(dir, im.FileName)
		if err := imageio.WritePNG(im.Path, m); err != nil {
			t.Fatal(err)
		}
		ds.Images = append(ds.Images, im)
	}
	return ds
}

// classOf returns the class whose colour pixel (r, g, b) is, scaled by a
// coverage above 0.5 (a bilinear blend with the black background), and
// that coverage; -1 when it is none.
func classOf(r, g, b uint8) (int, float64) {
	p := [3]float64{float64(r), float64(g), float64(b)}
	for k, c := range palette {
		var pc, cc float64
		for i := range p {
			pc += p[i] * c[i]
			cc += c[i] * c[i]
		}
		a := pc / cc
		var res float64
		for i := range p {
			res += (p[i] - a*c[i]) * (p[i] - a*c[i])
		}
		if a > 0.5 && math.Sqrt(res) < 30 {
			return k, a
		}
	}
	return -1, 0
}

func augmentConfig(seed int64, workers int) Config {
	return Config{BatchSize: 4, Workers: workers, Seed: seed, Shuffle: true,
		Transform: transform.Config{CanvasW: 96, CanvasH: 80, FlipProb: 0.5},
		Augment:   augment.Config{MosaicProb: 0.7, Zoom: [2]float64{0.5, 1.5}, MinAreaFrac: 0.2}}
}

// TestAugmentBoxesExact checks zoom, translation, mosaic and flip against
// the pixels: in every sample, each kept box's inside (1 px in from its
// edges) is its rectangle's colour, every pixel of a rectangle's colour
// lies within 1 px of a box of its class, kept or dropped (by the area
// rule or as degenerate), and the classes, ignore flags and ids follow
// the objects.
func TestAugmentBoxesExact(t *testing.T) {
	ds := rectDataset(t, 12)
	objects := map[int64]data.Object{}
	owner := map[int64]int{}
	for i, im := range ds.Images {
		for _, o := range im.Objects {
			objects[o.ID], owner[o.ID] = o, i
		}
	}
	for _, cacheBytes := range []int64{0, DefaultCacheBytes} {
		t.Run(fmt.Sprintf("cache%d", cacheBytes), func(t *testing.T) {
			cfg := augmentConfig(3, 2)
			cfg.CacheBytes = cacheBytes
			l, err := New(ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			const cw, ch = 96, 80
			canvas := transform.Record{OrigW: cw, OrigH: ch, ScaleX: 1, ScaleY: 1, ResizedW: cw, ResizedH: ch, CanvasW: cw, CanvasH: ch}
			var mosaics, kept, dropped, cut int
			for epoch := 0; epoch < 3; epoch++ {
				for idx := range ds.Images {
					s, err := l.Load(epoch, idx)
					if err != nil {
						t.Fatal(err)
					}
					if s.Record != canvas {
						t.Fatalf("record %+v, want the whole canvas %+v", s.Record, canvas)
					}
					img := l.Transform().ToRGB(s.Pix, cw, ch)
					tg := s.Target
					foreign := false
					for j, b := range tg.Boxes {
						o, ok := objects[tg.ObjectIDs[j]]
						if !ok || o.Class != tg.Classes[j] || tg.Ignore[j] != (o.Difficult || o.Crowd) {
							t.Fatalf("box %d: id %d class %d ignore %v do not match an object", j, tg.ObjectIDs[j], tg.Classes[j], tg.Ignore[j])
						}
						foreign = foreign || owner[o.ID] != idx
						for y := 0; y < ch; y++ {
							for x := 0; x < cw; x++ {
								px, py := float32(x)+0.5, float32(y)+0.5
								if px < b[0]+1 || px > b[2]-1 || py < b[1]+1 || py > b[3]-1 {
									continue
								}
								if k, a := classOf(img.At(x, y)); k != o.Class || a < 0.8 {
									t.Fatalf("epoch %d image %d: pixel (%d,%d) inside box %v of class %d is %v", epoch, idx, x, y, b, o.Class, fmt.Sprint(img.At(x, y)))
								}
							}
						}
					}
					if foreign {
						mosaics++
					}
					kept += len(tg.Boxes)
					dropped += s.Dropped
					for _, c := range s.cut {
						if c.box[2]-c.box[0] >= 1 && c.box[3]-c.box[1] >= 1 {
							cut++ // dropped by the area rule
						}
					}
					for y := 0; y < ch; y++ {
						for x := 0; x < cw; x++ {
							k, _ := classOf(img.At(x, y))
							if k < 0 {
								continue
							}
							px, py := float64(x)+0.5, float64(y)+0.5
							near := func(b [4]float64) bool {
								return px >= b[0]-1 && px <= b[2]+1 && py >= b[1]-1 && py <= b[3]+1
							}
							boxed := false
							for j, b := range tg.Boxes {
								if tg.Classes[j] == k && near([4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}) {
									boxed = true
								}
							}
							for _, c := range s.cut {
								if c.class == k && near(c.box) {
									boxed = true
								}
							}
							if !boxed {
								t.Fatalf("epoch %d image %d: pixel (%d,%d) of class %d is in no box of its class", epoch, idx, x, y, k)
							}
						}
					}
				}
			}
			t.Logf("%d samples with other images' boxes, %d boxes kept, %d dropped (%d by the area rule)", mosaics, kept, dropped, cut)
			if mosaics == 0 || cut == 0 || kept < 50 {
				t.Errorf("the samples exercise too little: %d mosaics, %d boxes kept, %d dropped by the area rule", mosaics, kept, cut)
			}
		})
	}
}

// TestAugmentDeterministic checks that augmented batches depend only on
// the seed: not on the number of workers, the cache budget (nothing, some
// or everything cached), or whether the cache was already filled.
func TestAugmentDeterministic(t *testing.T) {
	ds := rectDataset(t, 9)
	run := func(workers int, cacheBytes int64, seed int64, epochs ...int) ([][]*Batch, *Loader) {
		cfg := augmentConfig(seed, workers)
		cfg.Transform.Brightness, cfg.Transform.HSVHue, cfg.Transform.HSVSat, cfg.Transform.HSVVal = 0.2, 0.015, 0.7, 0.4
		cfg.CacheBytes = cacheBytes
		l, err := New(ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]*Batch
		for _, e := range epochs {
			out = append(out, collect(t, l, e))
		}
		return out, l
	}
	ref, _ := run(3, DefaultCacheBytes, 8, 0, 1, 0)
	if !reflect.DeepEqual(ref[0], ref[2]) {
		t.Error("epoch 0 differs once the cache is filled")
	}
	if reflect.DeepEqual(ref[0], ref[1]) {
		t.Error("epochs 0 and 1 are identical")
	}
	for _, tc := range []struct {
		name       string
		workers    int
		cacheBytes int64
	}{
		{"1 worker", 1, DefaultCacheBytes},
		{"nothing cached", 3, 1},
		{"some cached", 2, 60000},
	} {
		got, l := run(tc.workers, tc.cacheBytes, 8, 0, 1)
		if !reflect.DeepEqual(got, ref[:2]) {
			t.Errorf("%s: batches differ (cache holds %d images)", tc.name, l.Stats().Cached)
		}
	}
	// Without a cache the images are not reduced: the same draws, boxes
	// and records, and pixels within a few grey levels.
	plain, _ := run(2, 0, 8, 0)
	var worst, sum float64
	var n int
	for i, b := range plain[0] {
		r := ref[0][i]
		if !reflect.DeepEqual(b.Targets, r.Targets) || !reflect.DeepEqual(b.Records, r.Records) || !reflect.DeepEqual(b.Indices, r.Indices) {
			t.Fatalf("batch %d: targets or records differ with and without the cache", i)
		}
		for j := range b.Images {
			d := math.Abs(float64(b.Images[j]-r.Images[j])) * 57
			worst, sum = math.Max(worst, d), sum+d
		}
		n += len(b.Images)
	}
	if mean := sum / float64(n); mean > 2 || worst == 0 {
		t.Errorf("pixels differ by %.2f grey levels on average (at most %.1f) with and without the cache", mean, worst)
	}
	other, _ := run(3, DefaultCacheBytes, 9, 0)
	if reflect.DeepEqual(other[0], ref[0]) {
		t.Error("seeds 8 and 9 give identical batches")
	}
}

// TestEpochOptions checks the per-epoch switch: mosaic and zoom closed give
// exactly the plain loader's batches, no mosaic keeps each sample's boxes
// to its own image, and EpochWith with no options is Epoch.
func TestEpochOptions(t *testing.T) {
	ds := rectDataset(t, 10)
	cfg := augmentConfig(4, 2)
	cfg.Transform.Saturation, cfg.Transform.HSVVal = 0.3, 0.4
	l, err := New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	plainCfg := cfg
	plainCfg.Augment = augment.Config{}
	lp, err := New(ds, plainCfg)
	if err != nil {
		t.Fatal(err)
	}
	epochWith := func(epoch int, o EpochOptions) []*Batch {
		it := l.EpochWith(context.Background(), epoch, o)
		defer it.Close()
		var out []*Batch
		for {
			b, err := it.Next()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatal(err)
				}
				return out
			}
			out = append(out, b)
		}
	}
	// foreign counts samples with boxes of other images; zoomed those whose
	// record is the whole canvas.
	kinds := func(bs []*Batch) (foreign, zoomed int) {
		for _, b := range bs {
			for i, tg := range b.Targets {
				for _, id := range tg.ObjectIDs {
					if int(id/1000) != b.Indices[i] {
						foreign++
						break
					}
				}
				if r := b.Records[i]; r.ResizedW == b.W && r.ResizedH == b.H && r.ScaleX == 1 {
					zoomed++
				}
			}
		}
		return foreign, zoomed
	}
	for epoch := 0; epoch < 2; epoch++ {
		closed := epochWith(epoch, EpochOptions{NoMosaic: true, NoZoom: true})
		if want := collect(t, lp, epoch); !reflect.DeepEqual(closed, want) {
			t.Errorf("epoch %d: mosaic and zoom closed differ from the plain loader", epoch)
		}
		if f, z := kinds(closed); f != 0 || z != 0 {
			t.Errorf("epoch %d closed: %d mosaic and %d zoomed samples", epoch, f, z)
		}
		open := collect(t, l, epoch)
		if !reflect.DeepEqual(open, epochWith(epoch, EpochOptions{})) {
			t.Errorf("epoch %d: EpochWith without options differs from Epoch", epoch)
		}
		if f, z := kinds(open); f == 0 || z != 10 {
			t.Errorf("epoch %d open: %d mosaic and %d zoomed samples of 10", epoch, f, z)
		}
		if f, z := kinds(epochWith(epoch, EpochOptions{NoMosaic: true})); f != 0 || z != 10 {
			t.Errorf("epoch %d without mosaic: %d mosaic and %d zoomed samples of 10", epoch, f, z)
		}
		if f, _ := kinds(epochWith(epoch, EpochOptions{NoZoom: true})); f == 0 {
			t.Errorf("epoch %d without zoom: no mosaic", epoch)
		}
		s, err := l.LoadWith(epoch, 3, EpochOptions{NoMosaic: true, NoZoom: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := lp.Load(epoch, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, p) {
			t.Errorf("epoch %d: LoadWith closed differs from the plain loader's Load", epoch)
		}
	}
}

// TestCacheBudget checks that the cache holds reduced images up to its
// budget, and that an image needing no reduction gives the same pixels
// with and without the cache.
func TestCacheBudget(t *testing.T) {
	dir := t.TempDir()
	ds := &data.Dataset{Name: "big", Classes: []string{"a"}, CategoryIDs: []int{1}}
	for i := 0; i < 5; i++ {
		m := imageio.NewRGB(200, 160)
		for k := range m.Pix {
			m.Pix[k] = uint8(k*7 + i)
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		if err := imageio.WritePNG(path, m); err != nil {
			t.Fatal(err)
		}
		ds.Images = append(ds.Images, data.Image{ID: int64(i), Path: path, Width: 200, Height: 160,
			Objects: []data.Object{{ID: int64(i), Box: [4]float64{10, 10, 100, 90}}}})
	}
	// Fit 96/200 = 0.48, zoom up to 1.5: reduced to 0.72, 144 x 116.
	const perImage = 144 * 116 * 3
	tests := []struct {
		budget     int64
		wantCached int
	}{
		{perImage - 1, 0},
		{perImage, 1},
		{2*perImage + perImage/2, 2},
		{DefaultCacheBytes, 5},
	}
	for _, tc := range tests {
		cfg := augmentConfig(1, 3)
		cfg.CacheBytes = tc.budget
		l, err := New(ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if w, h := l.reducedSize(200, 160); w != 144 || h != 116 {
			t.Fatalf("reduced to %dx%d, want 144x116", w, h)
		}
		collect(t, l, 0)
		collect(t, l, 1)
		s := l.Stats()
		if s.Cached != tc.wantCached || s.CachedBytes != int64(tc.wantCached*perImage) || s.CachedBytes > tc.budget {
			t.Errorf("budget %d: %d images, %d bytes cached; want %d images of %d bytes", tc.budget, s.Cached, s.CachedBytes, tc.wantCached, perImage)
		}
		if s.Loaded != 10 || s.Skipped != 0 {
			t.Errorf("budget %d: stats %+v", tc.budget, s)
		}
	}

	// Small images need no reduction: the cache changes no pixel.
	small := rectDataset(t, 4)
	for i := range small.Images {
		small.Images[i].Width, small.Images[i].Height = 0, 0
	}
	var got [2][]*Batch
	for k, budget := range []int64{0, DefaultCacheBytes} {
		cfg := augmentConfig(2, 2)
		cfg.Transform.CanvasW, cfg.Transform.CanvasH = 320, 320
		cfg.CacheBytes = budget
		l, err := New(small, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = collect(t, l, 0)
		if budget > 0 && l.Stats().Cached != 4 {
			t.Fatalf("%d small images cached, want 4", l.Stats().Cached)
		}
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Error("images needing no reduction differ with and without the cache")
	}
}

// TestMosaicBadPartner checks that a mosaic whose other image is unreadable
// is skipped, with that image listed as the bad one, and that strict mode
// names its file.
func TestMosaicBadPartner(t *testing.T) {
	ds := rectDataset(t, 8)
	bad := ds.Images[5].Path
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := augmentConfig(6, 2)
	cfg.Augment.MosaicProb = 1
	l, err := New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := indices(collect(t, l, 0))
	s := l.Stats()
	if len(s.Bad) != 1 || s.Bad[0].Index != 5 || s.Bad[0].Path != bad || !strings.Contains(s.Bad[0].Err.Error(), bad) {
		t.Fatalf("bad images %+v, want image 5 only", s.Bad)
	}
	if s.Skipped < 2 || s.Skipped+len(got) != 8 || s.Loaded != len(got) {
		t.Errorf("%d skipped, %d loaded of 8; want image 5 and at least one mosaic using it skipped", s.Skipped, len(got))
	}
	cfg.Strict = true
	ls, err := New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	it := ls.Epoch(context.Background(), 0)
	defer it.Close()
	for {
		if _, err := it.Next(); err != nil {
			if !strings.Contains(err.Error(), bad) {
				t.Errorf("strict error %q does not name %s", err, bad)
			}
			break
		}
	}
}

func TestAugmentConfigErrors(t *testing.T) {
	ds := rectDataset(t, 1)
	canvas := transform.Config{CanvasW: 64, CanvasH: 64}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"mosaic probability", Config{BatchSize: 1, Transform: canvas, Augment: augment.Config{MosaicProb: 2}}, "MosaicProb"},
		{"zoom range", Config{BatchSize: 1, Transform: canvas, Augment: augment.Config{Zoom: [2]float64{1.5, 0.5}}}, "Zoom"},
		{"area fraction", Config{BatchSize: 1, Transform: canvas, Augment: augment.Config{MinAreaFrac: 1}}, "MinAreaFrac"},
		{"no canvas", Config{BatchSize: 1, Augment: augment.Config{MosaicProb: 1}}, "fixed canvas"},
		{"cache", Config{BatchSize: 1, CacheBytes: -1}, "CacheBytes"},
		{"hsv", Config{BatchSize: 1, Transform: transform.Config{HSVSat: 2}}, "HSV saturation"},
	}
	for _, tc := range tests {
		if _, err := New(ds, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.name, err, tc.want)
		}
	}
}
