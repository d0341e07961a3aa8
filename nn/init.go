package nn

import (
	"fmt"
	"hash/fnv"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// InitKind names a variable initialiser.
type InitKind int

const (
	// InitZeros fills with 0.
	InitZeros InitKind = iota
	// InitConstant fills with Init.Value.
	InitConstant
	// InitNormal draws from N(0, Init.Std^2).
	InitNormal
	// InitKaimingFanOut draws from N(0, 2/fan_out), fan_out = kh*kw*Cout for
	// an HWIO kernel (torchvision ResNet's kaiming_normal_(mode="fan_out",
	// nonlinearity="relu")).
	InitKaimingFanOut
)

// Init describes how a variable is initialised.
type Init struct {
	Kind  InitKind
	Std   float64 // InitNormal
	Value float64 // InitConstant
}

// ZerosInit initialises with 0.
func ZerosInit() Init { return Init{Kind: InitZeros} }

// ConstantInit initialises with v (e.g. the class-bias prior, see PriorBias).
func ConstantInit(v float64) Init { return Init{Kind: InitConstant, Value: v} }

// NormalInit initialises with N(0, std^2) draws.
func NormalInit(std float64) Init { return Init{Kind: InitNormal, Std: std} }

// KaimingFanOutInit initialises with N(0, 2/fan_out) draws (He et al.).
func KaimingFanOutInit() Init { return Init{Kind: InitKaimingFanOut} }

// PriorBias returns the bias -log((1-p)/p) that makes a sigmoid output p at
// initialisation (RetinaNet's class bias; p = 0.01 gives -4.595).
func PriorBias(p float64) float64 { return -math.Log((1 - p) / p) }

// String describes the initialiser.
func (in Init) String() string {
	switch in.Kind {
	case InitZeros:
		return "zeros"
	case InitConstant:
		return fmt.Sprintf("constant(%g)", in.Value)
	case InitNormal:
		return fmt.Sprintf("normal(0, %g)", in.Std)
	case InitKaimingFanOut:
		return "kaiming_normal_fan_out"
	}
	return fmt.Sprintf("InitKind(%d)", int(in.Kind))
}

// Initializer returns the GoMLX variable initialiser; random kinds draw from
// a generator seeded with seed, so a given (seed, shape) always yields the
// same values whatever else the model creates.
func (in Init) Initializer(seed int64) mlmodel.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		switch in.Kind {
		case InitZeros:
			return Zeros(g, shape)
		case InitConstant:
			return Add(Zeros(g, shape), Scalar(g, shape.DType, in.Value))
		case InitNormal, InitKaimingFanOut:
			std := in.Std
			if in.Kind == InitKaimingFanOut {
				std = math.Sqrt(2 / float64(fanOut(shape)))
			}
			_, v := RandomNormal(RNGStateFromSeedForGraph(g, seed), shape)
			return MulScalar(v, std)
		}
		exceptions.Panicf("nn: unknown initialiser kind %d", int(in.Kind))
		return nil
	}
}

// fanOut is kh*kw*Cout for an HWIO kernel, the last dimension otherwise.
func fanOut(shape shapes.Shape) int {
	if shape.Rank() == 0 {
		return 1
	}
	n := shape.Dim(-1)
	for i := 0; i < shape.Rank()-2; i++ {
		n *= shape.Dim(i)
	}
	return max(n, 1)
}

// ParamSeed is the Store parameter holding the base seed (int64) of every
// variable initialiser in this package; see SetSeed.
const ParamSeed = "ghmdet_init_seed"

// SetSeed sets the base seed of the variables created under scope (and its
// sub-scopes). A variable's own seed mixes the base seed with its full path,
// so initial values depend only on (seed, path, shape): reproducible, and
// independent of the order in which variables are created. Without SetSeed
// the base seed is 0 (still deterministic).
func SetSeed(scope *mlmodel.Scope, seed int64) {
	scope.SetParam(ParamSeed, seed)
}

// VariableSeed returns the seed of the variable name under scope.
func VariableSeed(scope *mlmodel.Scope, name string) int64 {
	base := mlmodel.GetParamOr[int64](scope, ParamSeed, 0)
	h := fnv.New64a()
	_, _ = h.Write([]byte(mlmodel.JoinPath(scope.Scope(), name)))
	return int64(splitMix64(uint64(base) ^ h.Sum64()))
}

// splitMix64 is one step of the SplitMix64 generator (a good bit mixer).
func splitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ParamDType is the Store parameter holding the dtype (dtypes.DType) of the
// variables created by this package; see SetDType.
const ParamDType = "ghmdet_variable_dtype"

// SetDType sets the dtype of the variables created under scope (default
// float32; float64 serves numerical gradient checks).
func SetDType(scope *mlmodel.Scope, dtype dtypes.DType) {
	scope.SetParam(ParamDType, dtype)
}

// Variable returns the variable name under scope with the given dimensions
// (float32 unless SetDType says otherwise), created on first use with init
// seeded by VariableSeed. Calling it again with the same scope path and name
// returns the same variable: this is how layers share weights.
func Variable(scope *mlmodel.Scope, name string, init Init, dims ...int) *mlmodel.Variable {
	shape := shapes.Make(mlmodel.GetParamOr(scope, ParamDType, dtypes.Float32), dims...)
	return scope.WithInitializer(init.Initializer(VariableSeed(scope, name))).VariableWithShape(name, shape)
}
