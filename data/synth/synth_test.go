package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ghmdet/ghmdet/data/imageio"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Train, c.Val = 16, 6
	return c
}

// hashTree returns the SHA-256 of every file under dir, by relative path.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministicBytes(t *testing.T) {
	base := t.TempDir()
	write := func(name string, cfg Config) map[string][32]byte {
		dir := filepath.Join(base, name)
		if _, err := Write(dir, cfg); err != nil {
			t.Fatal(err)
		}
		return hashTree(t, dir)
	}
	cfg := smallConfig()
	cfg.Workers = 1
	a := write("a", cfg)
	cfg.Workers = 3
	b := write("b", cfg)
	if want := 2 + cfg.Train + cfg.Val; len(a) != want {
		t.Fatalf("%d files, want %d", len(a), want)
	}
	for _, f := range []string{"annotations/instances_train.json", "annotations/instances_val.json", "train/000001.png", "val/000006.png"} {
		if _, ok := a[filepath.FromSlash(f)]; !ok {
			t.Errorf("missing %s", f)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different worker counts: files differ")
	}
	cfg.Seed++
	c := write("c", cfg)
	same := 0
	for k, h := range a {
		if c[k] == h {
			same++
		}
	}
	if same > 0 {
		t.Errorf("a different seed reproduced %d identical files", same)
	}
}

func TestCOCOFileMatchesDataset(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	res, err := Write(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "annotations", "instances_train.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f cocoFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	ds := res.Train.Dataset
	if len(f.Images) != cfg.Train || len(f.Annotations) != ds.NumObjects() || len(f.Categories) != cfg.Classes {
		t.Fatalf("file has %d images, %d annotations, %d categories; dataset %d, %d, %d",
			len(f.Images), len(f.Annotations), len(f.Categories), len(ds.Images), ds.NumObjects(), len(ds.Classes))
	}
	k := 0
	for _, im := range ds.Images {
		if _, err := os.Stat(im.Path); err != nil {
			t.Errorf("image file: %v", err)
		}
		for _, o := range im.Objects {
			a := f.Annotations[k]
			k++
			want := [4]float64{o.Box[0], o.Box[1], o.Box[2] - o.Box[0], o.Box[3] - o.Box[1]}
			if a.ImageID != im.ID || a.ID != o.ID || a.BBox != want || a.CategoryID != ds.CategoryIDs[o.Class] || a.Area != o.Area {
				t.Fatalf("annotation %+v does not match object %+v of image %d", a, o, im.ID)
			}
		}
	}
	// The PNG decodes to the in-memory rendering.
	g, _ := New(cfg)
	sc, err := g.Scene(Train, 2)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.DecodeFile(ds.Images[2].Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, sc.Image.Pix) {
		t.Error("written PNG differs from the rendered scene")
	}
}

// TestDatasetProperties checks the class distribution, size buckets,
// distractors, occlusion and box tightness on 150 rendered scenes.
func TestDatasetProperties(t *testing.T) {
	tests := []struct {
		classes int
		ratio   float64
	}{
		{6, 20},
		{4, 5},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		cfg.Train, cfg.Val, cfg.Classes, cfg.Ratio = 150, 0, tc.classes, tc.ratio
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		planned := 0
		for _, cl := range g.classes[Train] {
			planned += len(cl)
		}
		perClass := make([]int, tc.classes)
		var buckets [3]int
		distractors, occluded, objects := 0, 0, 0
		for i := 0; i < cfg.Train; i++ {
			sc, err := g.Scene(Train, i)
			if err != nil {
				t.Fatal(err)
			}
			labelled := 0
			for k, it := range sc.Items {
				b := it.Box
				if !(b[0] >= 0 && b[1] >= 0 && b[2] <= float64(cfg.Size) && b[3] <= float64(cfg.Size) && b[0] < b[2] && b[1] < b[3]) {
					t.Fatalf("scene %d: box %v outside the %d-pixel image or empty", i, b, cfg.Size)
				}
				if float64(it.Visible) < (1-cfg.MaxOcclusion)*float64(it.Area)-1e-9 {
					t.Errorf("scene %d: item %d visible %d of %d", i, k, it.Visible, it.Area)
				}
				if it.Class < 0 {
					distractors++
					if it.Shape < Star {
						t.Errorf("distractor drawn as class shape %v", it.Shape)
					}
					for _, o := range sc.Objects {
						if o.Box == it.Box {
							t.Errorf("scene %d: distractor box %v is annotated", i, it.Box)
						}
					}
					continue
				}
				labelled++
				if it.Visible < it.Area {
					occluded++
					continue
				}
				// Fully visible: the pixels it owns span exactly its box.
				x1, y1, x2, y2 := cfg.Size, cfg.Size, -1, -1
				for p, o := range sc.owner {
					if int(o) == k {
						x, y := p%cfg.Size, p/cfg.Size
						x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x), max(y2, y)
					}
				}
				if got := [4]float64{float64(x1), float64(y1), float64(x2 + 1), float64(y2 + 1)}; got != it.Box {
					t.Errorf("scene %d: box %v, drawn pixels span %v", i, it.Box, got)
				}
			}
			if labelled != len(sc.Objects) {
				t.Fatalf("scene %d: %d labelled items, %d annotations", i, labelled, len(sc.Objects))
			}
			for _, o := range sc.Objects {
				perClass[o.Class]++
				objects++
				switch {
				case o.Area < 32*32:
					buckets[0]++
				case o.Area < 96*96:
					buckets[1]++
				default:
					buckets[2]++
				}
			}
		}
		if float64(objects) < 0.97*float64(planned) {
			t.Errorf("placed %d of %d planned objects", objects, planned)
		}
		got := float64(perClass[0]) / float64(perClass[tc.classes-1])
		if got < tc.ratio*0.7 || got > tc.ratio*1.4 {
			t.Errorf("K=%d: head-to-tail ratio %.1f (counts %v), want about %g", tc.classes, got, perClass, tc.ratio)
		}
		for k := 1; k < tc.classes; k++ {
			if perClass[k] > perClass[k-1] {
				t.Errorf("K=%d: class counts not decreasing: %v", tc.classes, perClass)
			}
		}
		for b, n := range buckets {
			if n < objects/20 {
				t.Errorf("size bucket %d has %d of %d objects", b, n, objects)
			}
		}
		if distractors < cfg.Train/2 {
			t.Errorf("%d distractors in %d images", distractors, cfg.Train)
		}
		if occluded == 0 {
			t.Error("no object is occluded")
		}
		t.Logf("K=%d ratio %g: classes %v, buckets %v, %d distractors, %d occluded", tc.classes, tc.ratio, perClass, buckets, distractors, occluded)
	}
}

func TestClassFrequencies(t *testing.T) {
	p := ClassFrequencies(6, 20)
	sum := 0.0
	for _, v := range p {
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 || math.Abs(p[0]/p[5]-20) > 1e-9 {
		t.Errorf("frequencies %v (sum %g)", p, sum)
	}
	if one := ClassFrequencies(1, 20); len(one) != 1 || one[0] != 1 {
		t.Errorf("one class: %v", one)
	}
}

func TestLabelNoiseLeavesImages(t *testing.T) {
	cfg := smallConfig()
	cfg.Train = 30
	clean, _ := New(cfg)
	cfg.Noise = 0.3
	noisy, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	changed, total, counted := 0, 0, 0
	for i := 0; i < cfg.Train; i++ {
		a, _ := clean.Scene(Train, i)
		b, _ := noisy.Scene(Train, i)
		if !bytes.Equal(a.Image.Pix, b.Image.Pix) {
			t.Fatalf("scene %d: label noise changed the image", i)
		}
		if len(a.Objects) != len(b.Objects) {
			t.Fatalf("scene %d: label noise changed the object count", i)
		}
		for k := range a.Objects {
			total++
			o := b.Objects[k]
			if o.Class != a.Objects[k].Class || o.Box != a.Objects[k].Box {
				changed++
			}
			if o.Class < 0 || o.Class >= cfg.Classes || o.Box[0] < 0 || o.Box[2] > float64(cfg.Size) || o.Box[1] < 0 || o.Box[3] > float64(cfg.Size) {
				t.Errorf("noisy annotation %+v invalid", o)
			}
		}
		counted += b.Noisy
	}
	if frac := float64(changed) / float64(total); frac < 0.15 || frac > 0.45 {
		t.Errorf("%d of %d annotations changed with noise 0.3", changed, total)
	}
	if counted < changed {
		t.Errorf("Noisy counts %d, %d changed", counted, changed)
	}
}

func TestConfigValidation(t *testing.T) {
	mods := []func(*Config){
		func(c *Config) { c.Size = 8 },
		func(c *Config) { c.Classes = 7 },
		func(c *Config) { c.Classes = 0 },
		func(c *Config) { c.Ratio = 0.5 },
		func(c *Config) { c.MaxObjects = 0 },
		func(c *Config) { c.Train, c.Val = 0, 0 },
		func(c *Config) { c.Noise = 1.5 },
		func(c *Config) { c.SmallFrac, c.LargeFrac = 0.7, 0.5 },
		func(c *Config) { c.MaxOcclusion = 1 },
	}
	for i, m := range mods {
		c := DefaultConfig()
		m(&c)
		if _, err := New(c); err == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}
