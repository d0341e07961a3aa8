package model

import (
	"math"

	"github.com/ghmdet/ghmdet/nn"
)

// Variable scopes mirror torchvision's ResNet names ("stem/conv1",
// "stem/bn1" for torchvision's "conv1", "bn1"; "layer1/0/conv1",
// "layer1/0/downsample/0", ...) so that pretrained weights map one to one.
// The layers themselves are described in arch.go.

// stageNorm is the backbone norm of stage s (0 = stem), frozen (running
// statistics for "bn") when the stage is.
func stageNorm(cfg Config, s int) nn.Norm {
	return nn.Norm{Kind: cfg.Norm, Frozen: s <= cfg.FrozenStages}
}

// fanInStd is sqrt(1/fan_in) for a k x k kernel over cin channels.
func fanInStd(k, cin int) float64 {
	return 1 / math.Sqrt(float64(k*k*cin))
}
