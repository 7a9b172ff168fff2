/**
 * The code of a worker thread written in TypeScript, as one module. A worker does not inherit the
 * loader hooks tsx registered on the main thread; registering them again in the worker, then loading
 * each module through them, kept a thread ~0.45 s from its first line, most of it CPU
 * (docs/performance.md). Instead the worker's own modules are bundled in memory by esbuild (which
 * tsx itself transpiles with), once per process and entry, and the thread starts from a `data:` URL.
 * Packages are left out of the bundle: each import of one names the file Node resolves it to from
 * here, so the worker loads the very same package files the main thread does.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, stop, type Plugin } from 'esbuild';

/** what importing a package resolves to, as the main thread would resolve it */
const packagesByUrl: Plugin = {
  name: 'kairos-packages-by-url',
  setup(b) {
    // a bare specifier: a package or a Node builtin (relative and absolute paths are bundled)
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      return { path: import.meta.resolve(args.path), external: true };
    });
  },
};

const bundles = new Map<string, Promise<URL>>();
let building = 0;

async function bundle(entry: URL): Promise<URL> {
  building++;
  try {
    const out = await build({
      entryPoints: [fileURLToPath(entry)],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: `node${process.versions.node.split('.')[0]}`,
      logLevel: 'silent',
      plugins: [packagesByUrl],
      // names the module in stack traces and CPU profiles (else the whole data: URL would be its name)
      footer: { js: `//# sourceURL=${basename(entry.pathname, '.ts')}.bundle.js` },
    });
    return new URL(`data:text/javascript,${encodeURIComponent(out.outputFiles[0]!.text)}`);
  } finally {
    // esbuild's service is a child process: a server has no use for it between bundles
    if (--building === 0) await stop();
  }
}

/** a `data:` URL of the module `entry` (a TypeScript file) with its own imports bundled in */
export function bundledWorkerUrl(entry: URL): Promise<URL> {
  let url = bundles.get(entry.href);
  if (!url) {
    url = bundle(entry);
    bundles.set(entry.href, url);
    // a failed bundle is tried again next time
    url.catch(() => bundles.delete(entry.href));
  }
  return url;
}
