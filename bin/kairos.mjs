#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx transpiles on load; nothing to build before `npm start`).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
