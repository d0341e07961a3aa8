package coco

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// benchFile is a COCO-like instances file of 5,000 images, 80 categories
// and 50,000 annotations with polygon segmentations (about 19 MB).
var benchFile = func() func(testing.TB) []byte {
	f := sync.OnceValue(func() []byte { return synthInstances(5000, 50000) })
	return func(testing.TB) []byte { return f() }
}()

// synthInstances returns a COCO instances file with nImages images of 80
// categories and nAnns annotations, each with a polygon segmentation of 16
// points (crowd ones, 1 in 100, with an RLE), like the COCO files.
func synthInstances(nImages, nAnns int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 0, nAnns*400)
	b = append(b, `{"info": {"description": "synthetic", "year": 2024}, "licenses": [{"id": 1, "name": "x", "url": ""}],`+"\n"+`"images": [`...)
	for i := range nImages {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, `{"license": 1, "file_name": "%012d.jpg", "coco_url": "http://images.example.org/val2017/%012d.jpg", "height": 480, "width": 640, "date_captured": "2013-11-14 17:02:52", "id": %d}`, i+1, i+1, i+1)
	}
	b = append(b, "],\n\"annotations\": ["...)
	for i := range nAnns {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		x, y := rng.Float64()*500, rng.Float64()*350
		w, h := 1+rng.Float64()*139, 1+rng.Float64()*129
		crowd := i%100 == 99
		b = append(b, `{"segmentation": `...)
		if crowd {
			b = append(b, `{"counts": [`...)
			for k := range 40 {
				if k > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(rng.IntN(300)), 10)
			}
			b = append(b, `], "size": [480, 640]}`...)
		} else {
			b = append(b, "[["...)
			for k := range 32 {
				if k > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, math.Round(rng.Float64()*64000)/100, 'f', -1, 64)
			}
			b = append(b, "]]"...)
		}
		b = fmt.Appendf(b, `, "area": %s, "iscrowd": %d, "image_id": %d, "bbox": [%s, %s, %s, %s], "category_id": %d, "id": %d}`,
			strconv.FormatFloat(math.Round(w*h*0.7*100)/100, 'f', -1, 64), map[bool]int{false: 0, true: 1}[crowd], 1+rng.IntN(nImages),
			strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64), strconv.FormatFloat(math.Round(y*100)/100, 'f', -1, 64),
			strconv.FormatFloat(math.Round(w*100)/100, 'f', -1, 64), strconv.FormatFloat(math.Round(h*100)/100, 'f', -1, 64),
			1+rng.IntN(80), i+1)
	}
	b = append(b, "],\n\"categories\": ["...)
	for c := range 80 {
		if c > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, `{"supercategory": "thing", "id": %d, "name": "class%d"}`, c+1, c+1)
	}
	return append(b, "]}\n"...)
}

func benchmarkRead(b *testing.B, read func(buf []byte) error) {
	buf := benchFile(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse times the dataset reader (Parse: records checked, boxes
// clipped, a data.Dataset built).
func BenchmarkParse(b *testing.B) {
	benchmarkRead(b, func(buf []byte) error {
		_, rep, err := Parse(buf, "bench.json", "")
		if err == nil && !rep.Clean() {
			err = rep.Err()
		}
		return err
	})
}

// BenchmarkParseGroundTruth times the same file read as the evaluator's
// ground truth.
func BenchmarkParseGroundTruth(b *testing.B) {
	benchmarkRead(b, func(buf []byte) error {
		_, _, err := ParseInstances(buf, "bench.json", ForGroundTruth)
		return err
	})
}
