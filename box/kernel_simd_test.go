//go:build goexperiment.simd && amd64

package box

import (
	"testing"

	"simd/archsimd"
)

// forEachKernel runs f once with each IoU row kernel this machine can run:
// the scalar one always, the AVX2 one where the processor has AVX2. Tests
// that go through the kernels use it so that they check the same code on
// every machine, not only the kernel the processor selects.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	useAVX2 = false
	t.Run("scalar", f)
	if !archsimd.X86.AVX2() {
		t.Log("no AVX2 on this processor: the AVX2 kernel is not tested")
		return
	}
	useAVX2 = true
	t.Run("avx2", f)
}
