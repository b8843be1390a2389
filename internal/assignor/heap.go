package assignor

// memberHeap is a binary heap of member indices ordered by their partition
// counts (ascending, or descending when desc), ties broken by the lower
// member index. It tracks each member's position so a member's entry can be
// fixed or removed after its count changes. cnt is shared with the caller.
type memberHeap struct {
	items []int32
	pos   []int32 // pos[m]: index of m in items, -1 if absent
	cnt   []int32
	desc  bool
}

func newMemberHeap(members int, cnt []int32, desc bool) *memberHeap {
	h := &memberHeap{pos: make([]int32, members), cnt: cnt, desc: desc}
	for i := range h.pos {
		h.pos[i] = -1
	}
	return h
}

func (h *memberHeap) less(a, b int32) bool {
	if ca, cb := h.cnt[a], h.cnt[b]; ca != cb {
		return (ca < cb) != h.desc
	}
	return a < b
}

// reset makes the heap hold exactly members (which must be distinct).
func (h *memberHeap) reset(members []int32) {
	h.clear()
	h.items = append(h.items, members...)
	for i, m := range h.items {
		h.pos[m] = int32(i)
	}
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// clear empties the heap in time proportional to its size.
func (h *memberHeap) clear() {
	for _, m := range h.items {
		h.pos[m] = -1
	}
	h.items = h.items[:0]
}

func (h *memberHeap) top() int32 { return h.items[0] }

func (h *memberHeap) contains(m int32) bool { return h.pos[m] >= 0 }

func (h *memberHeap) push(m int32) {
	h.pos[m] = int32(len(h.items))
	h.items = append(h.items, m)
	h.up(len(h.items) - 1)
}

// fix restores the order after m's count changed; m must be in the heap.
func (h *memberHeap) fix(m int32) {
	i := int(h.pos[m])
	if !h.down(i) {
		h.up(i)
	}
}

// remove takes m out of the heap; m must be in the heap.
func (h *memberHeap) remove(m int32) {
	i, last := int(h.pos[m]), len(h.items)-1
	if i != last {
		h.swap(i, last)
	}
	h.items = h.items[:last]
	h.pos[m] = -1
	if i < last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *memberHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.pos[h.items[i]] = int32(i)
	h.pos[h.items[j]] = int32(j)
}

func (h *memberHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(h.items[i], h.items[parent]) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts item i down and reports whether it moved.
func (h *memberHeap) down(i int) bool {
	start, n := i, len(h.items)
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if r := child + 1; r < n && h.less(h.items[r], h.items[child]) {
			child = r
		}
		if !h.less(h.items[child], h.items[i]) {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}
