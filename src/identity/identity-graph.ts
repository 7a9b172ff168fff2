/**
 * Identity resolution: a union-find over identifiers (userIds and anonymousIds share one namespace,
 * as in Segment's API where either may name a person). Links are transitive; the root of a
 * component is an internal handle, never shown to clients, and may change when components merge.
 */
export class IdentityGraph {
  private readonly parent = new Map<string, string>();
  private readonly members = new Map<string, Set<string>>();

  /** the component's root, or undefined for an unknown id */
  find(id: string): string | undefined {
    let root = this.parent.get(id);
    if (root === undefined) return undefined;
    while (root !== this.parent.get(root)) root = this.parent.get(root)!;
    // path compression keeps later look-ups O(α(n))
    let cur = id;
    while (cur !== root) {
      const next = this.parent.get(cur)!;
      this.parent.set(cur, root);
      cur = next;
    }
    return root;
  }

  has(id: string): boolean {
    return this.parent.has(id);
  }

  /** adds an id as its own component if unknown; returns its root */
  add(id: string): string {
    const root = this.find(id);
    if (root !== undefined) return root;
    this.parent.set(id, id);
    this.members.set(id, new Set([id]));
    return id;
  }

  /**
   * Links two ids (adding them if needed). Returns the surviving root and the absorbed one with its
   * ids (undefined when they were already linked). Union by size keeps trees shallow.
   */
  union(a: string, b: string): { root: string; absorbed?: string; absorbedIds?: ReadonlySet<string> } {
    const ra = this.add(a);
    const rb = this.add(b);
    if (ra === rb) return { root: ra };
    const ma = this.members.get(ra)!;
    const mb = this.members.get(rb)!;
    const [big, small, bigSet, smallSet] = ma.size >= mb.size ? [ra, rb, ma, mb] : [rb, ra, mb, ma];
    this.parent.set(small, big);
    for (const id of smallSet) bigSet.add(id);
    this.members.delete(small);
    return { root: big, absorbed: small, absorbedIds: smallSet };
  }

  membersOf(root: string): ReadonlySet<string> {
    return this.members.get(root) ?? new Set();
  }

  /** forgets a whole component (erasure) */
  removeComponent(root: string): string[] {
    const ids = [...this.membersOf(root)];
    for (const id of ids) this.parent.delete(id);
    this.members.delete(root);
    return ids;
  }

  roots(): IterableIterator<string> {
    return this.members.keys();
  }

  get size(): number {
    return this.parent.size;
  }
}
