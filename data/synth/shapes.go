package synth

import "math"

// Shape is a drawable shape: the first NumClassShapes are the object
// classes, the rest are unlabelled distractors (hard negatives).
type Shape int

// The shapes. Classes use them in this order (Classes = K takes the first K).
const (
	Circle Shape = iota
	Square
	Triangle
	Cross
	Ring
	Diamond
	// Distractors: drawn, never annotated.
	Star
	Crescent
	Blob
	numShapes
)

// NumClassShapes is the largest supported number of classes.
const NumClassShapes = int(Star)

var shapeNames = [numShapes]string{"circle", "square", "triangle", "cross", "ring", "diamond", "star", "crescent", "blob"}

// String returns the shape's name.
func (s Shape) String() string {
	if s < 0 || s >= numShapes {
		return "unknown"
	}
	return shapeNames[s]
}

// classHue is each class shape's typical hue in degrees.
var classHue = [NumClassShapes]float64{0, 220, 120, 50, 290, 180}

// fill is the nominal area of each shape in its unit box [-1, 1]^2 divided
// by the box area (4), used to size shapes for a target pixel area.
var fill = [numShapes]float64{0.785, 1.0, 0.416, 0.551, 0.547, 0.5, 0.33, 0.3, 0.75}

// reach bounds each shape's distance from its centre in unit coordinates
// (a square's corner is at sqrt(2)).
var reach = [numShapes]float64{1, math.Sqrt2, 1.22, 1.06, 1, 1, 1, 1, 1.06}

// maxRotation limits the rotation (radians) of shapes whose identity
// depends on orientation: a square rotated by 45 degrees is a diamond.
var maxRotation = [numShapes]float64{math.Pi, 0.35, math.Pi, math.Pi, math.Pi, 0.35, math.Pi, math.Pi, math.Pi}

// triangle vertices in unit coordinates.
var triangle = [3][2]float64{{0, -1}, {0.95, 0.75}, {-0.95, 0.75}}

// star polygon: 10 vertices alternating radius 1 and 0.45.
var star = func() (p [10][2]float64) {
	for k := range p {
		r := 1.0
		if k%2 == 1 {
			r = 0.45
		}
		a := -math.Pi/2 + float64(k)*math.Pi/5
		p[k] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}()

// shapeParams are the per-instance parameters of a shape beyond its
// placement (only blobs use them).
type shapeParams struct {
	a, b, c float64
}

// inside reports whether unit coordinates (u, v) lie inside the shape.
func inside(s Shape, u, v float64, sp shapeParams) bool {
	switch s {
	case Circle:
		return u*u+v*v <= 1
	case Square:
		return math.Abs(u) <= 1 && math.Abs(v) <= 1
	case Triangle:
		return inTriangle(u, v)
	case Cross:
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.33 && av <= 1) || (av <= 0.33 && au <= 1)
	case Ring:
		r2 := u*u + v*v
		return r2 <= 1 && r2 >= 0.55*0.55
	case Diamond:
		return math.Abs(u)+math.Abs(v) <= 1
	case Star:
		return inPolygon(star[:], u, v)
	case Crescent:
		du, dv := u-0.45, v+0.1
		return u*u+v*v <= 1 && du*du+dv*dv > 0.85*0.85
	case Blob:
		r := math.Hypot(u, v)
		if r > 1.05 {
			return false
		}
		phi := math.Atan2(v, u)
		return r <= (0.78 + 0.14*math.Sin(3*phi+sp.a) + 0.08*math.Sin(5*phi+sp.b) + 0.05*math.Sin(2*phi+sp.c))
	}
	return false
}

func inTriangle(u, v float64) bool {
	var pos, neg bool
	for i := 0; i < 3; i++ {
		a, b := triangle[i], triangle[(i+1)%3]
		c := (b[0]-a[0])*(v-a[1]) - (b[1]-a[1])*(u-a[0])
		if c > 0 {
			pos = true
		} else if c < 0 {
			neg = true
		}
	}
	return !(pos && neg)
}

func inPolygon(p [][2]float64, u, v float64) bool {
	in := false
	j := len(p) - 1
	for i := range p {
		if (p[i][1] > v) != (p[j][1] > v) {
			x := (p[j][0]-p[i][0])*(v-p[i][1])/(p[j][1]-p[i][1]) + p[i][0]
			if u < x {
				in = !in
			}
		}
		j = i
	}
	return in
}

// hsv converts hue (degrees), saturation and value (0..1) to RGB floats on
// the 0..255 scale.
func hsv(h, s, v float64) [3]float64 {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return [3]float64{(r + m) * 255, (g + m) * 255, (b + m) * 255}
}
