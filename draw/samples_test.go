package draw

import (
	"encoding/xml"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/internal/testutil"
	xdraw "golang.org/x/image/draw"
)

// sampleScene returns a BCCD validation image with its boxes when the shared
// data is present, else a synthetic scene of discs.
func sampleScene(t *testing.T) (image.Image, []data.Object, []string) {
	names := []string{"RBC", "WBC", "Platelets"}
	dir := filepath.Join(filepath.Dir(testutil.RepoRoot(t)), "shared", "data", "bccd")
	if s := os.Getenv("GHMDET_SHARED"); s != "" {
		dir = filepath.Join(s, "data", "bccd")
	}
	const id = "BloodImage_00000"
	f, err := os.Open(filepath.Join(dir, "JPEGImages", id+".jpg"))
	if err == nil {
		defer f.Close()
		img, err := jpeg.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "Annotations", id+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		type bb struct {
			XMin float64 `xml:"xmin"`
			YMin float64 `xml:"ymin"`
			XMax float64 `xml:"xmax"`
			YMax float64 `xml:"ymax"`
		}
		var ann2 struct {
			Objects []struct {
				Name string `xml:"name"`
				Box  bb     `xml:"bndbox"`
			} `xml:"object"`
		}
		if err := xml.Unmarshal(raw, &ann2); err != nil {
			t.Fatal(err)
		}
		var objs []data.Object
		for _, o := range ann2.Objects {
			cls := 0
			for k, n := range names {
				if n == o.Name {
					cls = k
				}
			}
			objs = append(objs, data.Object{Class: cls, Box: [4]float64{o.Box.XMin, o.Box.YMin, o.Box.XMax, o.Box.YMax}})
		}
		return img, objs, names
	}
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	xdraw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{230, 215, 200, 255}), image.Point{}, xdraw.Src)
	rng := rand.New(rand.NewPCG(1, 2))
	var objs []data.Object
	for range 12 {
		cx, cy, r := 40+rng.Float64()*560, 40+rng.Float64()*400, 25+rng.Float64()*30
		for y := int(cy - r); y < int(cy+r); y++ {
			for x := int(cx - r); x < int(cx+r); x++ {
				if (float64(x)-cx)*(float64(x)-cx)+(float64(y)-cy)*(float64(y)-cy) < r*r {
					img.Set(x, y, color.RGBA{200, 120, 130, 255})
				}
			}
		}
		objs = append(objs, data.Object{Class: 0, Box: [4]float64{cx - r, cy - r, cx + r, cy + r}})
	}
	return img, objs, names
}

// TestWriteSamples draws sample images into GHMDET_SAMPLES_DIR (skipped when
// unset), for looking at them.
func TestWriteSamples(t *testing.T) {
	out := os.Getenv("GHMDET_SAMPLES_DIR")
	if out == "" {
		t.Skip("GHMDET_SAMPLES_DIR not set: no sample images written")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	img, objs, names := sampleScene(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var dets []Det
	for i, o := range objs {
		if i%7 == 3 {
			continue // missed
		}
		j := func(v float64) float64 { return v + 6*rng.NormFloat64() }
		dets = append(dets, Det{Box: [4]float64{j(o.Box[0]), j(o.Box[1]), j(o.Box[2]), j(o.Box[3])}, Class: o.Class, Score: 0.35 + 0.64*rng.Float64()})
	}
	dets = append(dets, Det{Box: [4]float64{300, 0, 420, 90}, Class: 2, Score: 0.41}) // a false positive at the top edge

	pred := Detections(img, dets, names, Options{MinScore: 0.3})
	both := Detections(GroundTruth(img, objs, names, Options{}), dets, names, Options{MinScore: 0.3})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(SaveJPEG(filepath.Join(out, "pred.jpg"), pred))
	must(SavePNG(filepath.Join(out, "pred_gt.png"), both))

	scale := func(src image.Image, w, h int, f float64) ([]Det, []data.Object, image.Image) {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), xdraw.Src, nil)
		sd := make([]Det, len(dets))
		for i, d := range dets {
			sd[i] = d
			for k := range d.Box {
				sd[i].Box[k] = d.Box[k] * f
			}
		}
		so := make([]data.Object, len(objs))
		for i, o := range objs {
			so[i] = o
			for k := range o.Box {
				so[i].Box[k] = o.Box[k] * f
			}
		}
		return sd, so, dst
	}
	sd, so, small := scale(img, 256, 192, 0.4)
	must(SavePNG(filepath.Join(out, "pred_gt_small.png"), Detections(GroundTruth(small, so, names, Options{}), sd, names, Options{MinScore: 0.3})))
	ld, lo, large := scale(img, 1920, 1440, 3)
	must(SaveJPEG(filepath.Join(out, "pred_gt_large.jpg"), Detections(GroundTruth(large, lo, names, Options{}), ld, names, Options{MinScore: 0.3})))
	must(SaveJPEG(filepath.Join(out, "mosaic.jpg"), Mosaic([]image.Image{pred, both, img, pred}, 2, 400)))
}
