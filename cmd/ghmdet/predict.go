package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/draw"
	"github.com/ghmdet/ghmdet/train"
)

// predictedImage is one image's entry in predictions.json.
type predictedImage struct {
	File       string             `json:"file"`
	Width      int                `json:"width"`
	Height     int                `json:"height"`
	Detections []detect.Detection `json:"detections"`
	Error      string             `json:"error,omitempty"`
	Drawn      string             `json:"drawn,omitempty"`
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true}

// expandImages lists the image files named by args (files, or folders
// scanned for .jpg/.jpeg/.png/.bmp), sorted within each folder.
func expandImages(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("predict: no .jpg, .png or .bmp images in %s", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// drawnNames returns, for each image file, the name of its drawn copy
// relative to the output folder: the file's path below the deepest folder
// holding all the files, with the extension replaced by .jpg. A name already
// given to an earlier file (compared without case, as some file systems do)
// gets the file's own extension as a suffix (1.png next to 1.jpg: 1_png.jpg),
// else the first free number (1_2.jpg). The names depend only on the list,
// so the same images always get the same names.
func drawnNames(files []string) []string {
	abs := make([]string, len(files))
	for i, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			a = filepath.Clean(f)
		}
		abs[i] = a
	}
	root := ""
	if len(abs) > 0 {
		root = filepath.Dir(abs[0])
	}
	for _, a := range abs[min(1, len(abs)):] {
		for !inside(root, a) {
			up := filepath.Dir(root)
			if up == root {
				break
			}
			root = up
		}
	}
	used := make(map[string]bool, len(files))
	names := make([]string, len(files))
	for i, a := range abs {
		rel := filepath.Base(a)
		if inside(root, a) {
			rel, _ = filepath.Rel(root, a)
		}
		ext := filepath.Ext(rel)
		stem := strings.TrimSuffix(rel, ext)
		name := stem + ".jpg"
		if used[strings.ToLower(name)] && ext != "" && !strings.EqualFold(ext, ".jpg") {
			name = stem + "_" + ext[1:] + ".jpg"
		}
		for k := 2; used[strings.ToLower(name)]; k++ {
			name = fmt.Sprintf("%s_%d.jpg", stem, k)
		}
		used[strings.ToLower(name)] = true
		names[i] = name
	}
	return names
}

// inside reports whether path lies below the folder dir.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func init() {
	var modelPath, out, backendName, engineName string
	var minScore float64
	cmd := &cobra.Command{
		Use:   "predict --model CKPT|RUN_DIR [flags] IMAGE|DIR...",
		Short: "Detect objects in images; write detections as JSON and images with boxes drawn",
		Long: `Run a trained detector on images of any size. For each image the boxes, class
names and scores are drawn into a JPEG under OUT, and all detections go to
OUT/predictions.json (boxes as x1, y1, x2, y2 in original image pixels; the
"drawn" field names each image's drawn file). Unreadable images are reported
in the JSON and on standard error; the others are still processed.

The drawn file keeps the image's path below the deepest folder holding all
the images, with the extension .jpg: "predict day night" writes
OUT/day/1.jpg and OUT/night/1.jpg for day/1.jpg and night/1.jpg, and
"predict photos" writes OUT/1.jpg for photos/1.jpg. The names depend only on
the images given, so a rerun overwrites the same files. Two images that would
still share a name (1.jpg and 1.png in one folder, or the same file given
twice) are told apart by a suffix on the later one in the order listed: its
extension (1_png.jpg), else a number (1_2.jpg).`,
		Example: `  ghmdet predict --model runs/demo-1 runs/demo-1/data/val
  ghmdet predict --model runs/bccd/weights/best.ckpt --score 0.5 --out preds blood.jpg
  ghmdet predict --model runs/bccd --out preds camera1 camera2   # preds/camera1/..., preds/camera2/...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" {
				return fmt.Errorf("--model is required (a checkpoint or a run directory)")
			}
			det, err := detect.Load(modelPath, detect.WithEngine(engineName), detect.WithBackend(backendName), detect.WithScoreThreshold(minScore))
			if err != nil {
				return err
			}
			defer det.Close()
			files, err := expandImages(args)
			if err != nil {
				return err
			}
			names := det.Classes()
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			drawn := drawnNames(files)
			var results []predictedImage
			failed := 0
			for i, f := range files {
				entry := predictedImage{File: f, Detections: []detect.Detection{}}
				img, err := imageio.DecodeFile(f)
				if err == nil {
					entry.Width, entry.Height = img.W, img.H
					rgba := img.ToNRGBA()
					var dets []detect.Detection
					dets, err = det.Detect(cmd.Context(), rgba)
					entry.Detections = append(entry.Detections, dets...)
					dd := make([]draw.Det, len(dets))
					for j, d := range dets {
						dd[j] = draw.Det{Box: d.Box, Class: d.Class, Score: d.Score}
					}
					if err == nil {
						entry.Drawn = filepath.Join(out, drawn[i])
						err = os.MkdirAll(filepath.Dir(entry.Drawn), 0o755)
					}
					if err == nil {
						err = draw.SaveJPEG(entry.Drawn, draw.Detections(rgba, dd, names, draw.Options{}))
					}
				}
				if err != nil {
					failed++
					entry.Error = err.Error()
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", f, err)
				}
				results = append(results, entry)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d detections (score >= %.2f)\n", f, len(entry.Detections), minScore)
			}
			js, err := json.MarshalIndent(results, "", "  ")
			if err != nil {
				return err
			}
			jsPath := filepath.Join(out, "predictions.json")
			if err := train.WriteFileAtomic(jsPath, append(js, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %d drawn images in %s\n", jsPath, len(files)-failed, out)
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "checkpoint file or run directory (uses weights/best.ckpt, else last.ckpt)")
	fl.StringVar(&out, "out", "predictions", "output folder")
	fl.StringVar(&backendName, "backend", "", "compute backend of --engine graph (default \"go\", or $GHMDET_BACKEND)")
	fl.StringVar(&engineName, "engine", "native", engineHelp)
	fl.Float64Var(&minScore, "score", 0.3, "lowest score written and drawn (0 to 1)")
	addMaxPixelsFlag(cmd)
	rootCmd.AddCommand(cmd)
}
