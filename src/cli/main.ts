/** `npx kairos <command>`: the command-line adapter. */

const USAGE = `usage: kairos <command> [options]

commands:
  serve                 start the server (what npm start runs)
  import FILE           bulk-load NDJSON Segment events (or CSV with --map) into the data dir
  compact               rewrite the data dir so erased data leaves no byte behind
  eval [FILE]           replay a dataset through the engine; accuracy beside baselines
  tune [FILE]           search recommender settings on a validation split; write a config file
  ope                   estimate candidate decision policies' value from the decision log (IPS, DR)
  keys create|list|revoke   manage the API and write keys of a workspace

Run "kairos <command> --help" for the options of a command.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await (await import('./serve.ts')).serve();
      return -1;
    case 'import':
      return (await import('./import.ts')).importCommand(rest);
    case 'compact':
      return (await import('./compact.ts')).compactCommand(rest);
    case 'eval':
      return (await import('./eval.ts')).evalCommand(rest);
    case 'tune':
      return (await import('./tune.ts')).tuneCommand(rest);
    case 'ope':
      return (await import('./ope.ts')).opeCommand(rest);
    case 'keys':
      return (await import('./keys.ts')).keysCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(`kairos: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
