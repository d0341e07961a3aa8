package bench

import (
	"context"
	"fmt"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/loss"
)

// runLoss times GHM-C against the focal loss with loss.BenchGHMCvsFocal:
// forward and backward on loss.BenchData(loss.BenchAnchors,
// loss.BenchClasses), one untimed pass of each (compilation), then
// Options.Runs alternating timed passes. The problem size is the same in
// Small mode (it runs in seconds).
func runLoss(ctx context.Context, opts Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	bk, err := backend.New(opts.Backend)
	if err != nil {
		return Result{}, err
	}
	r, err := loss.BenchGHMCvsFocal(bk, opts.Runs)
	if err != nil {
		return Result{}, err
	}
	return Result{
		GHMCS:         r.GHMC.Seconds(),
		FocalS:        r.Focal.Seconds(),
		GHMCOverFocal: r.Ratio(),
		Size:          fmt.Sprintf("2x%dx%d", loss.BenchAnchors/2, loss.BenchClasses),
		Runs:          r.Runs,
		WarmupRuns:    1,
	}, nil
}
