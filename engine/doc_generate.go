package engine

//go:generate go run gen_kernels.go
