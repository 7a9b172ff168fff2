/**
 * Dense integer handles for item ids. Models index typed arrays and maps by these handles, which
 * is several times smaller and faster than string keys; ranking still breaks ties by the id string so
 * results never depend on the order in which items were first seen.
 */
export class ItemIds {
  private readonly byId = new Map<string, number>();
  private readonly ids: string[] = [];

  /** the handle of an id, allocating one on first sight */
  intern(itemId: string): number {
    let h = this.byId.get(itemId);
    if (h === undefined) {
      h = this.ids.length;
      this.ids.push(itemId);
      this.byId.set(itemId, h);
    }
    return h;
  }

  find(itemId: string): number | undefined {
    return this.byId.get(itemId);
  }

  idOf(handle: number): string {
    return this.ids[handle]!;
  }

  /** one more than the largest handle: the length scratch arrays indexed by handle need */
  get size(): number {
    return this.ids.length;
  }

  /** tie order of two handles: by id string, ascending */
  readonly compare = (a: number, b: number): number => {
    const x = this.ids[a]!;
    const y = this.ids[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
