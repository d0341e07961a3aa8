package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// fbuf is a bounds-checked view of FlatBuffer bytes. The first failed read
// records an error (later reads return zero values and change nothing), so
// the decoder can be written as straight-line code and check err once per
// object. No read ever indexes outside b.
type fbuf struct {
	b   []byte
	err error
	// budget is the number of vector elements the decoder may still
	// allocate: a hostile file whose vectors all point at the same large
	// region cannot make the decoder allocate more than a small multiple of
	// the file size.
	budget int
}

// table is a decoded FlatBuffer table header.
type table struct {
	pos     int // position of the table (its soffset to the vtable)
	vt      int // position of the vtable
	vtLen   int // vtable size in bytes
	inlineN int // size of the table's inline data in bytes
}

func (p *fbuf) failf(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// ok reports whether n bytes at off lie inside the buffer, recording an
// error naming what was read when they do not.
func (p *fbuf) ok(off, n int64, what string) bool {
	if p.err != nil {
		return false
	}
	if off < 0 || n < 0 || off > int64(len(p.b)) || n > int64(len(p.b))-off {
		p.failf("%s: %d bytes at offset %d lie outside the %d-byte file (truncated or corrupt)", what, n, off, len(p.b))
		return false
	}
	return true
}

func (p *fbuf) u8(off int, what string) uint8 {
	if !p.ok(int64(off), 1, what) {
		return 0
	}
	return p.b[off]
}

func (p *fbuf) u16(off int, what string) uint16 {
	if !p.ok(int64(off), 2, what) {
		return 0
	}
	return binary.LittleEndian.Uint16(p.b[off:])
}

func (p *fbuf) u32(off int, what string) uint32 {
	if !p.ok(int64(off), 4, what) {
		return 0
	}
	return binary.LittleEndian.Uint32(p.b[off:])
}

func (p *fbuf) u64(off int, what string) uint64 {
	if !p.ok(int64(off), 8, what) {
		return 0
	}
	return binary.LittleEndian.Uint64(p.b[off:])
}

// indirect follows the unsigned offset stored at pos (relative to pos).
func (p *fbuf) indirect(pos int, what string) int {
	o := int64(p.u32(pos, what))
	if p.err != nil {
		return 0
	}
	t := int64(pos) + o
	if t >= int64(len(p.b)) {
		p.failf("%s: offset %d from position %d points past the end of the %d-byte file", what, o, pos, len(p.b))
		return 0
	}
	return int(t)
}

// table decodes the table header at pos.
func (p *fbuf) table(pos int, what string) table {
	so := int64(int32(p.u32(pos, what)))
	if p.err != nil {
		return table{}
	}
	vt := int64(pos) - so
	if !p.ok(vt, 4, what+" vtable") {
		return table{}
	}
	vtLen := int(p.u16(int(vt), what))
	inlineN := int(p.u16(int(vt)+2, what))
	if vtLen < 4 || vtLen%2 != 0 {
		p.failf("%s: invalid vtable size %d at offset %d", what, vtLen, vt)
		return table{}
	}
	if !p.ok(vt, int64(vtLen), what+" vtable") || !p.ok(int64(pos), int64(max(inlineN, 4)), what+" table") {
		return table{}
	}
	return table{pos: pos, vt: int(vt), vtLen: vtLen, inlineN: inlineN}
}

// field returns the position of field i of t, or -1 when the field is
// absent (default value). size is the field's inline size, checked against
// the table's inline data.
func (p *fbuf) field(t table, i, size int, what string) int {
	if p.err != nil {
		return -1
	}
	slot := 4 + 2*i
	if slot+2 > t.vtLen {
		return -1
	}
	o := int(p.u16(t.vt+slot, what))
	if o == 0 {
		return -1
	}
	if o+size > max(t.inlineN, 4) && t.inlineN != 0 {
		p.failf("%s: field %d at %d+%d bytes lies outside its table's %d bytes", what, i, o, size, t.inlineN)
		return -1
	}
	if !p.ok(int64(t.pos+o), int64(size), what) {
		return -1
	}
	return t.pos + o
}

// Scalar field readers with defaults.

func (p *fbuf) fieldU8(t table, i int, def uint8, what string) uint8 {
	if f := p.field(t, i, 1, what); f >= 0 {
		return p.u8(f, what)
	}
	return def
}

func (p *fbuf) fieldI32(t table, i int, def int32, what string) int32 {
	if f := p.field(t, i, 4, what); f >= 0 {
		return int32(p.u32(f, what))
	}
	return def
}

func (p *fbuf) fieldU32(t table, i int, def uint32, what string) uint32 {
	if f := p.field(t, i, 4, what); f >= 0 {
		return p.u32(f, what)
	}
	return def
}

func (p *fbuf) fieldU64(t table, i int, def uint64, what string) uint64 {
	if f := p.field(t, i, 8, what); f >= 0 {
		return p.u64(f, what)
	}
	return def
}

func (p *fbuf) fieldF32(t table, i int, def float32, what string) float32 {
	if f := p.field(t, i, 4, what); f >= 0 {
		return math.Float32frombits(p.u32(f, what))
	}
	return def
}

// fieldTable returns the sub-table referenced by field i, ok false when
// absent.
func (p *fbuf) fieldTable(t table, i int, what string) (table, bool) {
	f := p.field(t, i, 4, what)
	if f < 0 {
		return table{}, false
	}
	pos := p.indirect(f, what)
	tb := p.table(pos, what)
	return tb, p.err == nil
}

// fieldVector returns the position of the first element and the length of
// the vector referenced by field i (n = 0 when absent), checking that its
// n*elemSize bytes lie in the file and charging n to the budget.
func (p *fbuf) fieldVector(t table, i, elemSize int, what string) (start, n int) {
	f := p.field(t, i, 4, what)
	if f < 0 {
		return 0, 0
	}
	v := p.indirect(f, what)
	ln := int64(p.u32(v, what))
	if !p.ok(int64(v)+4, ln*int64(elemSize), what) {
		return 0, 0
	}
	if ln > int64(p.budget) {
		p.failf("%s: vector of %d elements exceeds what a %d-byte file can describe", what, ln, len(p.b))
		return 0, 0
	}
	p.budget -= int(ln)
	return v + 4, int(ln)
}

// fieldString returns the string referenced by field i ("" when absent).
func (p *fbuf) fieldString(t table, i int, what string) string {
	start, n := p.fieldVector(t, i, 1, what)
	if n == 0 || p.err != nil {
		return ""
	}
	return string(p.b[start : start+n])
}

// fieldBytes returns the byte vector referenced by field i (a sub-slice of
// the file, not a copy; nil when absent).
func (p *fbuf) fieldBytes(t table, i int, what string) []byte {
	f := p.field(t, i, 4, what)
	if f < 0 {
		return nil
	}
	v := p.indirect(f, what)
	ln := int64(p.u32(v, what))
	if !p.ok(int64(v)+4, ln, what) {
		return nil
	}
	return p.b[v+4 : v+4+int(ln) : v+4+int(ln)]
}

func (p *fbuf) fieldI32s(t table, i int, what string) []int32 {
	start, n := p.fieldVector(t, i, 4, what)
	if p.err != nil || n == 0 {
		return nil
	}
	out := make([]int32, n)
	for k := range out {
		out[k] = int32(binary.LittleEndian.Uint32(p.b[start+4*k:]))
	}
	return out
}

func (p *fbuf) fieldI64s(t table, i int, what string) []int64 {
	start, n := p.fieldVector(t, i, 8, what)
	if p.err != nil || n == 0 {
		return nil
	}
	out := make([]int64, n)
	for k := range out {
		out[k] = int64(binary.LittleEndian.Uint64(p.b[start+8*k:]))
	}
	return out
}

func (p *fbuf) fieldF32s(t table, i int, what string) []float32 {
	start, n := p.fieldVector(t, i, 4, what)
	if p.err != nil || n == 0 {
		return nil
	}
	out := make([]float32, n)
	for k := range out {
		out[k] = math.Float32frombits(binary.LittleEndian.Uint32(p.b[start+4*k:]))
	}
	return out
}

// fieldTables returns the tables of the vector of tables in field i.
func (p *fbuf) fieldTables(t table, i int, what string) []table {
	start, n := p.fieldVector(t, i, 4, what)
	if p.err != nil || n == 0 {
		return nil
	}
	out := make([]table, n)
	for k := range out {
		out[k] = p.table(p.indirect(start+4*k, what), what)
		if p.err != nil {
			p.err = fmt.Errorf("element %d of %w", k, p.err)
			return nil
		}
	}
	return out
}
