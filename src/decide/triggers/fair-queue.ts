/**
 * Due work waiting for a delivery slot, queued per destination (one workspace's webhook origin) and
 * handed out a destination at a time in turn. A receiver that does not answer holds a slot for the
 * whole request timeout; without this, a burst of firings to one dead receiver would hold every slot
 * and delay every other trigger of every workspace. So a destination holds at most `perDestination`
 * slots, and at most `failingDestination` while its last attempt failed (no answer, network error,
 * 408/429/5xx); one workspace holds at most `perWorkspace`, so that other workspaces always find one.
 */
export interface FairQueueLimits {
  /** slots one workspace may hold at once */
  perWorkspace: number;
  /** slots one destination may hold at once */
  perDestination: number;
  /** slots a destination whose last attempt failed may hold at once */
  failingDestination: number;
}

export interface Taken<T> {
  item: T;
  workspace: string;
  destination: string;
}

interface Line<T> {
  workspace: string;
  items: T[];
  head: number;
}

export class FairQueue<T> {
  /** destinations with waiting items; Map order is the turn order (a served destination goes last) */
  private readonly lines = new Map<string, Line<T>>();
  private readonly running = new Map<string, number>();
  private readonly workspaceRunning = new Map<string, number>();
  private readonly failing = new Set<string>();
  private waiting = 0;

  constructor(private readonly limits: FairQueueLimits) {}

  get size(): number {
    return this.waiting;
  }

  push(workspace: string, destination: string, item: T): void {
    let line = this.lines.get(destination);
    if (!line) this.lines.set(destination, (line = { workspace, items: [], head: 0 }));
    line.items.push(item);
    this.waiting++;
  }

  /**
   * The first waiting item of the next destination in turn that has room, counted as running until
   * `release`; undefined when nothing waits or every waiting destination is at its limit.
   */
  take(): Taken<T> | undefined {
    for (const [destination, line] of this.lines) {
      if ((this.workspaceRunning.get(line.workspace) ?? 0) >= this.limits.perWorkspace) continue;
      const cap = this.failing.has(destination) ? this.limits.failingDestination : this.limits.perDestination;
      if ((this.running.get(destination) ?? 0) >= cap) continue;
      const item = line.items[line.head++]!;
      this.waiting--;
      this.lines.delete(destination);
      if (line.head < line.items.length) {
        if (line.head >= 1024 && line.head * 2 >= line.items.length) {
          line.items = line.items.slice(line.head);
          line.head = 0;
        }
        this.lines.set(destination, line);
      }
      this.running.set(destination, (this.running.get(destination) ?? 0) + 1);
      this.workspaceRunning.set(line.workspace, (this.workspaceRunning.get(line.workspace) ?? 0) + 1);
      return { item, workspace: line.workspace, destination };
    }
    return undefined;
  }

  /** a taken item is finished */
  release(t: Taken<T>): void {
    decrement(this.running, t.destination);
    decrement(this.workspaceRunning, t.workspace);
  }

  /** what the destination's latest attempt showed: failing (no answer, network error, 408/429/5xx) or not */
  setFailing(destination: string, failing: boolean): void {
    if (failing) this.failing.add(destination);
    else this.failing.delete(destination);
  }

  /** forgets the waiting items (running ones are still released as they finish) */
  clear(): void {
    this.lines.clear();
    this.waiting = 0;
  }
}

function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 0) - 1;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
