//go:build !(goexperiment.simd && amd64)

package box

// iouRow writes the IoU of the valid box (ax1, ay1, ax2, ay2) of area aa
// with the first len(out) boxes of b into out (portable build: scalar).
func iouRow(out []float32, ax1, ay1, ax2, ay2, aa float32, b *soa) {
	iouRowScalar(out, ax1, ay1, ax2, ay2, aa, b)
}

// maxRow: see maxRowScalar (portable build).
func maxRow(row, colMax []float32, ax1, ay1, ax2, ay2, aa float32, g *soa) float32 {
	return maxRowScalar(row, colMax, ax1, ay1, ax2, ay2, aa, g)
}
