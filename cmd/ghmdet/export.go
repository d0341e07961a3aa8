package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
	"github.com/ghmdet/ghmdet/onnxexport"
)

func init() {
	var (
		modelPath, format, out string
		nms                    bool
	)
	cmd := &cobra.Command{
		Use:   "export --model RUN --format onnx --out model.onnx",
		Short: "Write a trained model as an ONNX model (for ONNX Runtime and other runtimes)",
		Long: fmt.Sprintf(`export writes the model of a run directory (its best checkpoint, else the
last; the weight averages when the run kept them) or of a checkpoint file in
another format. The one format is "onnx": a standard ONNX model, opset %d,
made of ordinary operators (Conv with batch-norm folded in, group-norm as
InstanceNormalization with a per-channel scale and shift, Relu, Clip,
MaxPool, Resize, Add, Sigmoid, Concat, Transpose, Reshape).

Input "images": float32 [batch, 3, H, W] (NCHW, RGB), pixel values 0..255,
H x W the run's input size; the model normalises them with the run's mean
and standard deviation. Resize an image keeping its aspect ratio to fit
H x W and fill the right and bottom with the mean colour, as ghmdet does.

Outputs "scores" [batch, N, K] (class probabilities) and "deltas"
[batch, N, 4] (encoded box deltas) for the N anchors of all pyramid levels,
in ghmdet's anchor order. --nms adds "boxes" [batch, N, 4] (decoded and
clipped to the input) and ONNX NonMaxSuppression per class with the run's
score threshold, IoU threshold and detection limit (per class):
"selected" [D, 3] (image, class, anchor), "detection_scores" [D] and
"detection_boxes" [D, 4], so that the model is usable alone.

The metadata holds the class names, the anchors' settings, the box coder,
the preprocessing and the post-processing settings.`, onnxexport.Opset),
		Example: `  ghmdet export --model runs/demo-1 --format onnx --out demo.onnx
  ghmdet export --model runs/bccd/weights/last.ckpt --format onnx --nms --out bccd.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" || out == "" {
				return fmt.Errorf("export: --model and --out are required")
			}
			if format != "onnx" {
				return fmt.Errorf("export: format %q unknown (allowed: onnx)", format)
			}
			spec, get, err := onnxexport.Load(modelPath)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			data, err := onnxexport.Build(spec, get, onnxexport.Options{NMS: nms, Version: Version})
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%.1f MB, ONNX opset %d, input images [batch, 3, %d, %d], %d classes%s)\n",
				out, float64(len(data))/1e6, onnxexport.Opset, spec.Model.InputHeight, spec.Model.InputWidth, spec.Model.NumClasses,
				map[bool]string{true: ", with NMS", false: ""}[nms])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "run directory or checkpoint file")
	f.StringVar(&format, "format", "onnx", "output format (onnx)")
	f.StringVar(&out, "out", "", "output file")
	f.BoolVar(&nms, "nms", false, "add decoded boxes and per-class non-maximum suppression")
	rootCmd.AddCommand(cmd)
}
