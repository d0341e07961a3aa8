package loader

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/augment"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/internal/testutil"
)

// bccdDataset reads the BCCD Pascal VOC annotations with a minimal parser
// (enough for the benchmark; the full reader lives in data/voc).
func bccdDataset(b *testing.B) *data.Dataset {
	root := testutil.SharedDir(b, "data", "bccd")
	files, err := filepath.Glob(filepath.Join(root, "Annotations", "*.xml"))
	if err != nil || len(files) == 0 {
		b.Skipf("no BCCD annotations under %s (%v)", root, err)
	}
	sort.Strings(files)
	type vocObject struct {
		Name      string `xml:"name"`
		Difficult int    `xml:"difficult"`
		Box       struct {
			XMin float64 `xml:"xmin"`
			YMin float64 `xml:"ymin"`
			XMax float64 `xml:"xmax"`
			YMax float64 `xml:"ymax"`
		} `xml:"bndbox"`
	}
	type vocAnnotation struct {
		Filename string `xml:"filename"`
		Size     struct {
			Width  int `xml:"width"`
			Height int `xml:"height"`
		} `xml:"size"`
		Objects []vocObject `xml:"object"`
	}
	classes := []string{"RBC", "WBC", "Platelets"}
	ds := &data.Dataset{Name: "bccd", Classes: classes, CategoryIDs: []int{1, 2, 3}}
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var a vocAnnotation
		if err := xml.Unmarshal(raw, &a); err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		path := filepath.Join(root, "JPEGImages", a.Filename)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		im := data.Image{ID: int64(i + 1), Path: path, FileName: a.Filename, Width: a.Size.Width, Height: a.Size.Height}
		for _, o := range a.Objects {
			cls := 0
			for c, n := range classes {
				if n == o.Name {
					cls = c
				}
			}
			bb := o.Box
			im.Objects = append(im.Objects, data.Object{ID: int64(len(im.Objects) + 1), Class: cls,
				Box: [4]float64{bb.XMin - 1, bb.YMin - 1, bb.XMax, bb.YMax}, Difficult: o.Difficult != 0})
		}
		ds.Images = append(ds.Images, im)
	}
	return ds
}

// BenchmarkLoaderBCCD measures the loader alone (decode 640x480 JPEG,
// resize into a fixed canvas with flip, normalise, batch) on BCCD. One
// iteration is one epoch over every image; the metric is images/s.
func BenchmarkLoaderBCCD(b *testing.B) {
	ds := bccdDataset(b)
	for _, size := range []int{256, 320, 512} {
		b.Run(fmt.Sprintf("canvas%d", size), func(b *testing.B) {
			l, err := New(ds, Config{BatchSize: 8, Seed: 1, Shuffle: true,
				Transform: transform.Config{CanvasW: size, CanvasH: size, FlipProb: 0.5}})
			if err != nil {
				b.Fatal(err)
			}
			images := 0
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it := l.Epoch(context.Background(), i)
				for {
					bt, err := it.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					images += bt.B
					l.Recycle(bt)
				}
				it.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(images)/time.Since(start).Seconds(), "images/s")
			if s := l.Stats(); s.Skipped > 0 {
				b.Logf("skipped %d images: %v", s.Skipped, s.Bad[0].Err)
			}
		})
	}
}

// BenchmarkCacheBCCD measures what the decoded-image cache saves on BCCD
// (640x480 JPEG) for a 256 x 256 canvas with zoom up to 1.5 (images reduced
// to 384 x 288): one op is one image (decode: decoding it; reduce: decoding
// and reducing it, as every load of an image beyond the budget does;
// cached: taking it from the cache) or one sample (load: a mosaic of 4
// images with zoom and flip, composed and normalised, without and with a
// filled cache). Run briefly: -benchtime=100x.
func BenchmarkCacheBCCD(b *testing.B) {
	ds := bccdDataset(b)
	n := len(ds.Images)
	cfg := func(cacheBytes int64) Config {
		return Config{BatchSize: 8, Seed: 1, Shuffle: true, CacheBytes: cacheBytes,
			Transform: transform.Config{CanvasW: 256, CanvasH: 256, FlipProb: 0.5},
			Augment:   augment.Config{MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}, MinAreaFrac: augment.DefaultMinAreaFrac}}
	}
	newLoader := func(b *testing.B, cacheBytes int64) *Loader {
		l, err := New(ds, cfg(cacheBytes))
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	warm := func(b *testing.B, l *Loader) {
		for i := 0; i < n; i++ {
			if _, err := l.source(i); err != nil {
				b.Fatal(err)
			}
		}
		s := l.Stats()
		b.ReportMetric(float64(s.CachedBytes)/float64(max(s.Cached, 1)), "bytes/image")
	}
	b.Run("decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := imageio.DecodeFile(ds.Images[i%n].Path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reduce", func(b *testing.B) {
		l := newLoader(b, 1) // nothing fits: decoded and reduced each time
		for i := 0; i < b.N; i++ {
			if _, err := l.source(i % n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		l := newLoader(b, DefaultCacheBytes)
		warm(b, l)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := l.source(i % n); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("load/mosaic/cache=%v", cached), func(b *testing.B) {
			var l *Loader
			if cached {
				l = newLoader(b, DefaultCacheBytes)
				warm(b, l)
			} else {
				l = newLoader(b, 0)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Load(i/n, i%n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
