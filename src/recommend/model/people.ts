/**
 * Groups a workspace's sessions into people for a training snapshot. A session's key is the
 * messageId of its first event, so the person whose usable events include that messageId owns it.
 * One pass over the events held in memory, person by person, pausing (yielding to the event loop)
 * every few tens of thousands of events so requests are served in between.
 */
import type { Workspace } from '../../engine/workspace.ts';
import type { PeopleResolver } from './holder.ts';

/** events looked at between two pauses */
const SLICE = 50_000;

export function workspacePeople(ws: Workspace): PeopleResolver {
  return async (sessions, pause) => {
    const out = new Map<string, string>();
    let sincePause = 0;
    for (const root of [...ws.identity.roots()]) {
      const usable = ws.viewOf(root)?.usable ?? [];
      for (const e of usable) if (sessions.has(e.messageId)) out.set(e.messageId, root);
      sincePause += usable.length + 1;
      if (sincePause >= SLICE) {
        sincePause = 0;
        await pause();
      }
    }
    return out;
  };
}
