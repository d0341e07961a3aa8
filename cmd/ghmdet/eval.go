package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/eval"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/inference"
)

// engineHelp describes the --engine flag of eval, predict and serve.
const engineHelp = `engine that runs the network: "native" (plain Go, AVX-512 where the CPU has it) or "graph" (the GoMLX graph on --backend)`

// evalOptions holds the flags of "ghmdet eval".
type evalOptions struct {
	gt, dets string
	json     bool
	// Model evaluation: a checkpoint or run directory, data and split.
	model, data, split, format, images, out, backend, engine string
	// byPosition maps the model's classes to the dataset's by position
	// when their names differ.
	byPosition bool
}

func init() {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval (--gt GT.json --dets DETS.json | --model CKPT|RUN_DIR --data PATH)",
		Short: "COCO box metrics (AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l), identical to pycocotools",
		Long: `eval computes the COCO box-detection metrics with the rules of the reference
evaluator (pycocotools COCOeval, iouType "bbox") and prints its 12-line
summary, then a per-category table.

With --gt and --dets it evaluates a COCO results file (a JSON array of
{image_id, category_id, bbox: [x, y, w, h], score}) against a COCO
ground-truth file. Every image of the ground truth is evaluated; detections on
images or categories absent from it are errors, as are NaN, infinite or
negative sizes and missing fields (the message names the file and record).

With --model and --data it runs a trained detector (a checkpoint, or a run
directory's weights/best.ckpt) on a dataset (COCO JSON, VOC folder or YOLO
data.yaml; --split picks the VOC/YOLO split, default "val"), writes the
detections in the COCO results format to --out, and evaluates them. The
model's classes must be the dataset's, with the same names in the same order
(else eval stops and lists both); --map-by-position evaluates anyway, class k
of the model scored as class k of the dataset, for the same classes under
other names.

--json prints one JSON object instead: "stats" (the 12 numbers in the
reference's order, -1 where undefined), "stat_names" and "per_category".`,
		Example: `  ghmdet eval --gt instances_val2017.json --dets results.json
  ghmdet eval --gt gt.json --dets dets.json --json
  ghmdet eval --model runs/bccd --data ../shared/data/bccd --split test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.gt, "gt", "", "COCO ground-truth file (instances JSON)")
	f.StringVar(&o.dets, "dets", "", "COCO results file: JSON array of image_id, category_id, bbox, score")
	f.StringVar(&o.model, "model", "", "checkpoint file or run directory to evaluate")
	f.StringVar(&o.data, "data", "", "dataset to evaluate the model on (COCO JSON, VOC folder, YOLO data.yaml)")
	f.StringVar(&o.split, "split", "val", "split of --data (VOC, YOLO)")
	f.StringVar(&o.format, "format", "auto", "data format: auto, coco, voc or yolo")
	f.StringVar(&o.images, "images", "", "image folder (COCO, VOC)")
	f.StringVar(&o.out, "out", "detections.json", "where --model writes its detections (COCO results format)")
	f.StringVar(&o.backend, "backend", "", "compute backend of --engine graph (default \"go\", or $GHMDET_BACKEND)")
	f.StringVar(&o.engine, "engine", "native", engineHelp)
	f.BoolVar(&o.json, "json", false, `print one JSON object ("stats", "per_category") instead of text`)
	f.BoolVar(&o.byPosition, mapByPositionFlag, false, mapByPositionHelp)
	addMaxPixelsFlag(cmd)
	rootCmd.AddCommand(cmd)
}

// runEval picks what to evaluate from the flags given.
func runEval(cmd *cobra.Command, o *evalOptions) error {
	w := cmd.OutOrStdout()
	switch {
	case o.model != "" || o.data != "":
		if o.model == "" || o.data == "" {
			return errors.New("eval: --model and --data go together: give the checkpoint (or run directory) and the dataset")
		}
		if o.gt != "" || o.dets != "" {
			return errors.New("eval: give either --gt/--dets or --model/--data, not both")
		}
		return evalModel(cmd, o)
	case o.gt != "" || o.dets != "":
		if o.gt == "" || o.dets == "" {
			return errors.New("eval: --gt and --dets go together: give the ground-truth file and the results file")
		}
		return evalFiles(w, o)
	default:
		return errors.New("eval: nothing to evaluate: give --gt GT.json --dets DETS.json (COCO ground truth and COCO results), or --model CKPT --data PATH")
	}
}

// evalFiles evaluates a results file against a ground-truth file.
func evalFiles(w io.Writer, o *evalOptions) error {
	gt, err := eval.LoadGroundTruth(o.gt)
	if err != nil {
		return err
	}
	dets, err := eval.LoadDetections(o.dets, gt)
	if err != nil {
		return err
	}
	res, err := eval.Evaluate(gt, dets, eval.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", o.dets, err)
	}
	return printEval(w, res, o.json)
}

// printEval prints a result as text (summary, then the per-category table)
// or as one JSON object.
func printEval(w io.Writer, res *eval.Result, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res.Report())
	}
	_, err := fmt.Fprintf(w, "%s\n%s", res.Summary(), res.CategoryTable())
	return err
}

// evalModel runs a trained detector on a dataset and evaluates it.
func evalModel(cmd *cobra.Command, o *evalOptions) error {
	cfg, store, err := detector.LoadModel(o.model)
	if err != nil {
		return err
	}
	f := trainFlags{format: o.format, images: o.images}
	ds, err := loadData(cmd, o.data, splitFor(o.data, o.format, o.split), &f, false)
	if err != nil {
		return err
	}
	if err := checkModelClasses(cmd, cfg, ds, o.model, o.data, o.byPosition); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	kind, err := inference.ParseEngine(o.engine)
	if err != nil {
		return fmt.Errorf("eval: --engine: %w", err)
	}
	kind = kind.ResolveFor(o.backend)
	var b compute.Backend
	if kind == inference.EngineGraph {
		if b, err = backend.New(o.backend); err != nil {
			return err
		}
	}
	res, _, err := detector.EvaluateWith(b, store, cfg, ds, o.out, detector.PredictOptions{Engine: kind})
	if err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(cmd.ErrOrStderr(), "evaluated %s on %s (%d images); detections in %s\n", o.model, o.data, len(ds.Images), o.out)
	}
	return printEval(cmd.OutOrStdout(), res, o.json)
}

// mapByPositionFlag lets eval and analyze run a model on a dataset whose
// class names differ from the model's.
const (
	mapByPositionFlag = "map-by-position"
	mapByPositionHelp = "use the model on a dataset whose class names differ from the model's: class k of the model is class k of the data"
)

// checkModelClasses checks that the model at modelPath (configuration cfg)
// and the dataset ds at dataPath have the same classes: the same number and,
// unless byPosition, the same names in the same order. It notes on standard
// error when the classes are matched by position although named differently,
// or when the model names no class.
func checkModelClasses(cmd *cobra.Command, cfg detector.Config, ds *data.Dataset, modelPath, dataPath string, byPosition bool) error {
	if err := detector.CheckClasses(cfg, ds, byPosition); err != nil {
		var me *detector.ClassMismatchError
		if errors.As(err, &me) && len(me.Model) == len(me.Data) {
			return fmt.Errorf("model %s and data %s: %w\nthe model's class k would be taken as the data's class k; if they are the same classes under other names, pass --%s", modelPath, dataPath, err, mapByPositionFlag)
		}
		return fmt.Errorf("model %s and data %s: %w", modelPath, dataPath, err)
	}
	switch {
	case len(cfg.Classes) == 0:
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s names no class; its classes are taken as those of %s by position\n", modelPath, dataPath)
	case byPosition:
		var pairs []string
		for k, name := range cfg.ClassNames() {
			if name != ds.Classes[k] {
				pairs = append(pairs, fmt.Sprintf("%q as %q", name, ds.Classes[k]))
			}
		}
		if len(pairs) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: --%s: the model's classes are taken as the data's by position: %s\n", mapByPositionFlag, strings.Join(pairs, ", "))
		}
	}
	return nil
}
