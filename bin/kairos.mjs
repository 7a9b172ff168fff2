#!/usr/bin/env -S node --max-semi-space-size=64
// Runs the TypeScript sources directly (tsx transpiles on load; nothing to build before `npm start`).
// The Node flags above (repeated in package.json's `start`) give V8 a 64 MB young generation: with the
// serving state's large old generation every minor GC pauses for milliseconds whatever it collects, and
// a larger young generation makes those pauses four times rarer (docs/performance.md).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
