/** `kairos serve` (what `npm start` runs): open the engine, listen, shut down gracefully. */
import { loadConfig } from '../config.ts';
import { openEngine, createLogger } from '../engine/open.ts';
import { buildApp } from '../server/app.ts';
import { capabilities } from '../capabilities.ts';
import { sweepRetention } from '../privacy/retention.ts';

/** whether Node was started with a young-generation size (the flag `npm start` and `npx kairos` pass) */
export function youngGenerationConfigured(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const flag = /^--max[-_]semi[-_]space[-_]size(=|$)/;
  return execArgv.some((a) => flag.test(a)) || (nodeOptions ?? '').split(/\s+/).some((a) => flag.test(a));
}

export async function serve(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  if (!youngGenerationConfigured(process.execArgv, process.env.NODE_OPTIONS)) {
    logger.warn(
      'Node runs with its default 16 MB young generation: with a large serving state, minor GC pauses land on ~4x more requests; start with `npm start`, `npx kairos serve` or NODE_OPTIONS=--max-semi-space-size=64 (docs/configuration.md, Node flags)',
    );
  }
  const caps = capabilities(config);
  const opened = await openEngine(config, logger, caps.extensions);
  const { engine } = opened;
  const { app, ctx } = buildApp(engine, logger, caps);
  if (engine.generatedSecrets.writeKey) console.log(`write key of the default workspace (shown once): ${engine.generatedSecrets.writeKey}`);
  if (engine.generatedSecrets.adminKey) console.log(`admin API key (shown once): ${engine.generatedSecrets.adminKey}`);

  // retention runs before the first request and then hourly; a failure is logged and retried
  const sweep = () => sweepRetention(engine).catch((err: unknown) => logger.error({ err }, 'retention sweep failed'));
  await sweep();
  setInterval(sweep, 3_600_000).unref();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // a second signal: stop waiting for requests (what was acknowledged is durable already)
      logger.warn({ signal }, 'closing the connections still open');
      app.server.closeAllConnections();
      return;
    }
    stopping = true;
    ctx.ready.value = false;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Node stops timing requests out once the server closes: a client sending a request a byte at a
    // time would hold the process forever
    setTimeout(() => {
      logger.warn({ graceSeconds: config.shutdownGraceSeconds }, 'closing the connections still open after the grace period');
      app.server.closeAllConnections();
    }, config.shutdownGraceSeconds * 1000).unref();
    try {
      await app.close();
      await caps.stop?.();
      await opened.close();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  console.log(`kairos listening on http://${host}:${port}`);
}
