package engine

// Activation memory: tensors share buffers ("slots") when their lives do
// not overlap. A tensor lives from the step that writes it to the last step
// that reads it; slots are assigned in step order, a tensor taking the
// smallest free slot that holds it (or a new one), and a slot is freed
// after the last reader of its tensor. A reused slot holds the previous
// tensor's values where the new tensor has its zero border, so the border
// is cleared before the writer runs (fresh). Every image of a slot starts
// at a multiple of the slot's size, whichever tensor it holds.

// io returns the tensors a step reads and writes.
func (s *convStep) io() (reads, writes []int) {
	reads = []int{s.in}
	if s.res >= 0 {
		reads = append(reads, s.res)
	}
	if s.out >= 0 {
		writes = []int{s.out}
	}
	return reads, writes
}

func (s *gnStep) io() (reads, writes []int) {
	reads = []int{s.t}
	if s.res >= 0 {
		reads = append(reads, s.res)
	}
	return reads, []int{s.t}
}

func (s *eltStep) io() (reads, writes []int) {
	reads = []int{s.a}
	if s.kind != eltAct {
		reads = append(reads, s.b)
	}
	return reads, []int{s.out}
}

func (s *dwStep) io() (reads, writes []int)   { return []int{s.in}, []int{s.out} }
func (s *poolStep) io() (reads, writes []int) { return []int{s.in}, []int{s.out} }

// assignSlots gives every tensor of p a slot and lists, per step, the
// tensors whose border must be cleared before it runs.
func (p *plan) assignSlots() {
	n := len(p.tensors)
	first := make([]int, n) // step that writes the tensor first (-1: the images)
	last := make([]int, n)  // last step that reads or writes it
	for t := range n {
		first[t], last[t] = len(p.steps), -1
	}
	first[0], last[0] = -1, -1
	for i, s := range p.steps {
		reads, writes := s.io()
		for _, t := range writes {
			first[t] = min(first[t], i)
			last[t] = max(last[t], i)
		}
		for _, t := range reads {
			last[t] = max(last[t], i)
		}
	}
	p.slotOf = make([]int, n)
	p.fresh = make([][]int, len(p.steps))
	var free []int // slots not in use
	take := func(t int) {
		size := p.tensors[t].img()
		best := -1
		for j, sl := range free {
			if p.slotSize[sl] >= size && (best < 0 || p.slotSize[sl] < p.slotSize[free[best]]) {
				best = j
			}
		}
		if best < 0 {
			// The largest free slot grows, else a new one.
			for j, sl := range free {
				if best < 0 || p.slotSize[sl] > p.slotSize[free[best]] {
					best = j
				}
			}
		}
		var sl int
		if best < 0 {
			sl = len(p.slotSize)
			p.slotSize = append(p.slotSize, size)
		} else {
			sl = free[best]
			free = append(free[:best], free[best+1:]...)
			p.slotSize[sl] = max(p.slotSize[sl], size)
		}
		p.slotOf[t] = sl
	}
	// Tensors by the step that writes them first.
	byFirst := make([][]int, len(p.steps))
	for t := 1; t < n; t++ {
		if first[t] < len(p.steps) {
			byFirst[first[t]] = append(byFirst[first[t]], t)
		}
	}
	byLast := make([][]int, len(p.steps))
	for t := range n {
		if last[t] >= 0 {
			byLast[last[t]] = append(byLast[last[t]], t)
		}
	}
	take(0)
	p.fresh0 = p.tensors[0].bd > 0
	for i := range p.steps {
		for _, t := range byFirst[i] {
			take(t)
			if p.tensors[t].bd > 0 {
				p.fresh[i] = append(p.fresh[i], t)
			}
		}
		for _, t := range byLast[i] {
			free = append(free, p.slotOf[t])
		}
	}
	for t := range p.tensors {
		p.tensors[t].stride = p.slotSize[p.slotOf[t]]
	}
}

// clearBorder zeroes the border of tensor t for images b0 .. b0+nb-1.
func clearBorder(t *tensor, buf []float32, b0, nb int) {
	if t.bd == 0 {
		return
	}
	wp := t.w + 2*t.bd
	row := wp * t.cp
	for b := b0; b < b0+nb; b++ {
		img := buf[b*t.stride:][:t.img()]
		clear(img[:t.bd*row])
		clear(img[(t.bd+t.h)*row:])
		for y := t.bd; y < t.bd+t.h; y++ {
			clear(img[y*row:][:t.bd*t.cp])
			clear(img[y*row+(t.bd+t.w)*t.cp:][:t.bd*t.cp])
		}
	}
}
