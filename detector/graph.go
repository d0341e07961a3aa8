package detector

import (
	"github.com/ghmdet/ghmdet/internal/inference"
)

// ModelScope is the scope under which the network's variables live.
const ModelScope = inference.ModelScope

// levelOffsets returns, for the configured input size, the first anchor
// index and the anchor count of every pyramid level.
func levelOffsets(cfg *Config) (offsets, counts []int) {
	return inference.LevelOffsets(cfg.Model)
}
