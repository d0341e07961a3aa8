//go:build !(goexperiment.simd && amd64)

package box

import "testing"

// forEachKernel runs f with the only IoU row kernel of this build, the
// scalar one.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	t.Run("scalar", f)
}
