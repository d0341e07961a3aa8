package detect_test

import (
	"context"
	"fmt"
	"image"
	"log"
	"strings"

	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/internal/testrun"
)

// exampleRunDir returns a run directory: a tiny model trained for the
// example (use a run of "ghmdet train" or "ghmdet demo", for example
// "runs/demo-1").
func exampleRunDir() string {
	run, err := testrun.Make()
	if err != nil {
		log.Fatal(err)
	}
	return run.Dir
}

func Example() {
	d, err := detect.Load(exampleRunDir(), detect.WithScoreThreshold(0.3))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	fmt.Println(len(d.Classes()), "classes:", strings.Join(d.Classes(), ", "))
	w, h := d.InputSize()
	fmt.Printf("input %dx%d, batches of up to %d\n", w, h, d.MaxBatch())

	img := image.NewRGBA(image.Rect(0, 0, 640, 480)) // any image.Image
	dets, err := d.Detect(context.Background(), img)
	if err != nil {
		log.Fatal(err)
	}
	for _, det := range dets {
		fmt.Printf("%s %.2f at %v\n", det.ClassName, det.Score, det.Rect())
	}
	// Output:
	// 2 classes: circle, square
	// input 128x128, batches of up to 4
}
