package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
)

// Summary describes a generated split.
type Summary struct {
	// Split is the split's name.
	Split Split
	// Images and Objects count the images and annotations.
	Images, Objects int
	// PerClass counts annotations per class index.
	PerClass []int
	// Small, Medium and Large count annotations per COCO area bucket.
	Small, Medium, Large int
	// Distractors counts unlabelled distractor shapes.
	Distractors int
	// Occluded counts annotated objects partly covered by later shapes.
	Occluded int
	// Noisy counts annotations changed by label noise.
	Noisy int
}

// String formats the summary on one line.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d images, %d objects (per class", s.Split, s.Images, s.Objects)
	for k, n := range s.PerClass {
		fmt.Fprintf(&b, " %s=%d", Shape(k), n)
	}
	fmt.Fprintf(&b, "), small/medium/large %d/%d/%d, %d distractors, %d occluded, %d noisy labels",
		s.Small, s.Medium, s.Large, s.Distractors, s.Occluded, s.Noisy)
	return b.String()
}

// SplitResult is one generated split.
type SplitResult struct {
	// Dataset is the split as read back from the written files would be
	// (Paths point at the written images).
	Dataset *data.Dataset
	// Summary are its counts.
	Summary Summary
}

// Result is what Write produced.
type Result struct {
	// Train and Val are the generated splits (nil for an empty split).
	Train, Val *SplitResult
}

// Write generates the dataset described by cfg under dir in the COCO
// layout: dir/annotations/instances_train.json with images in dir/train/,
// and dir/annotations/instances_val.json with dir/val/. Image file names are
// the zero-padded image ids (000001.png, ...). It returns the datasets in
// memory. Output bytes depend only on cfg (not on cfg.Workers).
func Write(dir string, cfg Config) (*Result, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "annotations"), 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	res := &Result{}
	for _, s := range []Split{Train, Val} {
		if g.Count(s) == 0 {
			continue
		}
		sr, err := g.writeSplit(dir, s)
		if err != nil {
			return nil, err
		}
		if s == Train {
			res.Train = sr
		} else {
			res.Val = sr
		}
	}
	return res, nil
}

// Dataset renders split s in memory (without writing files) and returns it
// with the rendered images, in image order. Image paths are the names Write
// would give them under dir.
func (g *Generator) Dataset(dir string, s Split) (*data.Dataset, []*imageio.RGB, Summary, error) {
	scenes, err := g.renderAll(s, nil)
	if err != nil {
		return nil, nil, Summary{}, err
	}
	ds, sum := g.assemble(dir, s, scenes)
	imgs := make([]*imageio.RGB, len(scenes))
	for i, sc := range scenes {
		imgs[i] = sc.Image
	}
	return ds, imgs, sum, nil
}

// renderAll renders every scene of split s with the configured number of
// workers; each scene goes to its own index, so the order is fixed. When
// post is set it is called (concurrently) for each scene, and the scene's
// image is released afterwards.
func (g *Generator) renderAll(s Split, post func(i int, sc *Scene) error) ([]*Scene, error) {
	n := g.Count(s)
	scenes := make([]*Scene, n)
	errs := make([]error, n)
	workers := g.cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				sc, err := g.Scene(s, i)
				if err == nil {
					sc.owner = nil
					if post != nil {
						err = post(i, sc)
						sc.Image = nil
					}
				}
				scenes[i], errs[i] = sc, err
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return scenes, nil
}

func fileName(id int64) string { return fmt.Sprintf("%06d.png", id) }

// assemble numbers images (ids 1..n) and annotations (ids 1..m in image
// order) and builds the dataset and its summary.
func (g *Generator) assemble(dir string, s Split, scenes []*Scene) (*data.Dataset, Summary) {
	k := g.cfg.Classes
	ds := &data.Dataset{Name: "synth/" + string(s), Classes: ClassNames(k), CategoryIDs: make([]int, k)}
	for i := range ds.CategoryIDs {
		ds.CategoryIDs[i] = i + 1
	}
	sum := Summary{Split: s, Images: len(scenes), PerClass: make([]int, k)}
	var annID int64
	for i, sc := range scenes {
		id := int64(i + 1)
		name := fileName(id)
		im := data.Image{ID: id, Path: filepath.Join(dir, string(s), name), FileName: name,
			Width: g.cfg.Size, Height: g.cfg.Size, Objects: make([]data.Object, 0, len(sc.Objects))}
		for _, o := range sc.Objects {
			annID++
			o.ID = annID
			im.Objects = append(im.Objects, o)
			sum.Objects++
			sum.PerClass[o.Class]++
			switch {
			case o.Area < 32*32:
				sum.Small++
			case o.Area < 96*96:
				sum.Medium++
			default:
				sum.Large++
			}
		}
		for _, it := range sc.Items {
			if it.Class < 0 {
				sum.Distractors++
			} else if it.Visible < it.Area {
				sum.Occluded++
			}
		}
		sum.Noisy += sc.Noisy
		ds.Images = append(ds.Images, im)
	}
	return ds, sum
}

func (g *Generator) writeSplit(dir string, s Split) (*SplitResult, error) {
	imgDir := filepath.Join(dir, string(s))
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	scenes, err := g.renderAll(s, func(i int, sc *Scene) error {
		path := filepath.Join(imgDir, fileName(int64(i+1)))
		var buf bytes.Buffer
		if err := imageio.EncodePNG(&buf, sc.Image, png.BestSpeed); err != nil {
			return fmt.Errorf("synth: %s: %w", path, err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ds, sum := g.assemble(dir, s, scenes)
	path := filepath.Join(dir, "annotations", "instances_"+string(s)+".json")
	if err := writeCOCO(path, ds, g.cfg); err != nil {
		return nil, err
	}
	return &SplitResult{Dataset: ds, Summary: sum}, nil
}

type cocoInfo struct {
	Description string `json:"description"`
	Version     string `json:"version"`
}

type cocoImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type cocoAnnotation struct {
	ID         int64      `json:"id"`
	ImageID    int64      `json:"image_id"`
	CategoryID int        `json:"category_id"`
	BBox       [4]float64 `json:"bbox"`
	Area       float64    `json:"area"`
	IsCrowd    int        `json:"iscrowd"`
}

type cocoCategory struct {
	ID            int    `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory"`
}

type cocoFile struct {
	Info        cocoInfo         `json:"info"`
	Licenses    []struct{}       `json:"licenses"`
	Images      []cocoImage      `json:"images"`
	Annotations []cocoAnnotation `json:"annotations"`
	Categories  []cocoCategory   `json:"categories"`
}

// writeCOCO writes ds as a COCO instances file (bbox x, y, w, h).
func writeCOCO(path string, ds *data.Dataset, cfg Config) error {
	f := cocoFile{
		Info: cocoInfo{Version: "1", Description: fmt.Sprintf(
			"ghmdet synthetic shapes: seed %d, %dx%d, %d classes, head-to-tail ratio %g, label noise %g",
			cfg.Seed, cfg.Size, cfg.Size, cfg.Classes, cfg.Ratio, cfg.Noise)},
		Licenses:    []struct{}{},
		Images:      make([]cocoImage, 0, len(ds.Images)),
		Annotations: make([]cocoAnnotation, 0, ds.NumObjects()),
	}
	for k, name := range ds.Classes {
		f.Categories = append(f.Categories, cocoCategory{ID: ds.CategoryIDs[k], Name: name, Supercategory: "shape"})
	}
	for _, im := range ds.Images {
		f.Images = append(f.Images, cocoImage{ID: im.ID, FileName: im.FileName, Width: im.Width, Height: im.Height})
		for _, o := range im.Objects {
			f.Annotations = append(f.Annotations, cocoAnnotation{ID: o.ID, ImageID: im.ID,
				CategoryID: ds.CategoryIDs[o.Class], Area: o.Area,
				BBox: [4]float64{o.Box[0], o.Box[1], o.Box[2] - o.Box[0], o.Box[3] - o.Box[1]}})
		}
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	if err := enc.Encode(&f); err != nil {
		out.Close()
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	return nil
}
