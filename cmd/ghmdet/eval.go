package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/eval"
)

// evalOptions holds the flags of "ghmdet eval".
type evalOptions struct {
	gt, dets string
	json     bool
}

func init() {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "COCO box metrics (AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l), identical to pycocotools",
		Long: `eval computes the COCO box-detection metrics with the rules of the reference
evaluator (pycocotools COCOeval, iouType "bbox") and prints its 12-line
summary, then a per-category table.

With --gt and --dets it evaluates a COCO results file (a JSON array of
{image_id, category_id, bbox: [x, y, w, h], score}) against a COCO
ground-truth file. Every image of the ground truth is evaluated; detections on
images or categories absent from it are errors, as are NaN, infinite or
negative sizes and missing fields (the message names the file and record).

--json prints one JSON object instead: "stats" (the 12 numbers in the
reference's order, -1 where undefined), "stat_names" and "per_category".`,
		Example: `  ghmdet eval --gt instances_val2017.json --dets results.json
  ghmdet eval --gt gt.json --dets dets.json --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd.OutOrStdout(), &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.gt, "gt", "", "COCO ground-truth file (instances JSON)")
	f.StringVar(&o.dets, "dets", "", "COCO results file: JSON array of image_id, category_id, bbox, score")
	f.BoolVar(&o.json, "json", false, `print one JSON object ("stats", "per_category") instead of text`)
	rootCmd.AddCommand(cmd)
}

// runEval picks what to evaluate from the flags given.
func runEval(w io.Writer, o *evalOptions) error {
	switch {
	case o.gt != "" || o.dets != "":
		if o.gt == "" || o.dets == "" {
			return errors.New("eval: --gt and --dets go together: give the ground-truth file and the results file")
		}
		return evalFiles(w, o)
	default:
		return errors.New("eval: nothing to evaluate: give --gt GT.json --dets DETS.json (COCO ground truth and COCO results)")
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
