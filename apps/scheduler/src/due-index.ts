interface Entry {
  at: number;
  id: string;
}

/**
 * Schedule ids by the time they are next due (a binary min-heap): a pass takes only the schedules
 * due up to its horizon instead of looking at every one. Setting an id again replaces its time;
 * the old heap entry stays behind until it surfaces and is dropped, and the heap is rebuilt when
 * such leftovers outnumber the live entries.
 */
export class DueIndex {
  private heap: Entry[] = [];
  private readonly dueAt = new Map<string, number>();

  get size(): number {
    return this.dueAt.size;
  }

  /** When `id` is due, or undefined when it is not in the index. */
  get(id: string): number | undefined {
    return this.dueAt.get(id);
  }

  set(id: string, at: number): void {
    if (this.dueAt.get(id) === at) return;
    this.dueAt.set(id, at);
    this.push({ at, id });
    if (this.heap.length > 2 * this.dueAt.size + 1024) this.rebuild();
  }

  delete(id: string): void {
    this.dueAt.delete(id);
  }

  clear(): void {
    this.heap = [];
    this.dueAt.clear();
  }

  /** Removes and returns the ids due at or before `until`, earliest first. */
  takeDue(until: number): string[] {
    const taken: string[] = [];
    for (let top = this.heap[0]; top !== undefined && top.at <= until; top = this.heap[0]) {
      this.pop();
      if (this.dueAt.get(top.id) !== top.at) continue;
      this.dueAt.delete(top.id);
      taken.push(top.id);
    }
    return taken;
  }

  private rebuild(): void {
    this.heap = [...this.dueAt].map(([id, at]) => ({ id, at }));
    for (let index = (this.heap.length >> 1) - 1; index >= 0; index -= 1) this.down(index);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    let index = heap.push(entry) - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((heap[parent] as Entry).at <= entry.at) break;
      heap[index] = heap[parent] as Entry;
      index = parent;
    }
    heap[index] = entry;
  }

  private pop(): void {
    const last = this.heap.pop();
    if (last === undefined || this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private down(start: number): void {
    const heap = this.heap;
    const entry = heap[start] as Entry;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as Entry).at < (heap[left] as Entry).at ? right : left;
      if ((heap[child] as Entry).at >= entry.at) break;
      heap[index] = heap[child] as Entry;
      index = child;
    }
    heap[index] = entry;
  }
}
