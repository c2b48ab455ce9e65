// The priority queue both BPE algorithms merge from: candidate merges of two adjacent symbols,
// best first — lowest priority value, then leftmost position (llama.cpp's llm_bigram_spm and
// llm_bigram_bpe comparators). A binary heap over parallel typed arrays: no object per entry.

function goesBefore(p1: number, l1: number, p2: number, l2: number): boolean {
  return p1 < p2 || (p1 === p2 && l1 < l2);
}

export class MergeQueue {
  private priority = new Float64Array(64);
  private leftIndex = new Int32Array(64);
  private rightIndex = new Int32Array(64);
  private sizeOf = new Int32Array(64);
  private count = 0;
  /** The entry the last pop() removed. */
  topPriority = 0;
  topLeft = 0;
  topRight = 0;
  topSize = 0;

  get length(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  /** Adds the candidate merge of symbols `left` and `right` whose combined length is `size`. */
  push(priority: number, left: number, right: number, size: number): void {
    if (this.count === this.priority.length) this.grow();
    let i = this.count++;
    // sift up
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!goesBefore(priority, left, this.priority[parent]!, this.leftIndex[parent]!)) break;
      this.move(parent, i);
      i = parent;
    }
    this.priority[i] = priority;
    this.leftIndex[i] = left;
    this.rightIndex[i] = right;
    this.sizeOf[i] = size;
  }

  /** Removes the best entry; read it with the top* fields before the next call. */
  pop(): void {
    const last = --this.count;
    const p = this.priority[last]!;
    const l = this.leftIndex[last]!;
    const r = this.rightIndex[last]!;
    const s = this.sizeOf[last]!;
    this.topPriority = this.priority[0]!;
    this.topLeft = this.leftIndex[0]!;
    this.topRight = this.rightIndex[0]!;
    this.topSize = this.sizeOf[0]!;
    if (last === 0) return;
    // sift the last entry down from the root
    let i = 0;
    for (;;) {
      const a = 2 * i + 1;
      if (a >= last) break;
      const b = a + 1;
      const child = b < last && goesBefore(this.priority[b]!, this.leftIndex[b]!, this.priority[a]!, this.leftIndex[a]!) ? b : a;
      if (!goesBefore(this.priority[child]!, this.leftIndex[child]!, p, l)) break;
      this.move(child, i);
      i = child;
    }
    this.priority[i] = p;
    this.leftIndex[i] = l;
    this.rightIndex[i] = r;
    this.sizeOf[i] = s;
  }

  private move(from: number, to: number): void {
    this.priority[to] = this.priority[from]!;
    this.leftIndex[to] = this.leftIndex[from]!;
    this.rightIndex[to] = this.rightIndex[from]!;
    this.sizeOf[to] = this.sizeOf[from]!;
  }

  private grow(): void {
    const n = this.priority.length * 2;
    const p = new Float64Array(n);
    p.set(this.priority);
    this.priority = p;
    const l = new Int32Array(n);
    l.set(this.leftIndex);
    this.leftIndex = l;
    const r = new Int32Array(n);
    r.set(this.rightIndex);
    this.rightIndex = r;
    const s = new Int32Array(n);
    s.set(this.sizeOf);
    this.sizeOf = s;
  }
}
