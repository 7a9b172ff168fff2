/** A progress line on stderr: redrawn in place on a terminal, a line every few seconds otherwise. */
export class Progress {
  private last = 0;
  private readonly started = Date.now();
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly unit = '',
  ) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 200 : 5000)) return;
    this.last = now;
    this.draw(done, extra);
  }

  finish(done: number, extra = ''): void {
    this.draw(done, extra);
    if (this.tty) process.stderr.write('\n');
  }

  private draw(done: number, extra: string): void {
    const secs = (Date.now() - this.started) / 1000;
    let bar = '';
    if (this.total) {
      const frac = Math.min(1, done / this.total);
      const width = 30;
      const filled = Math.round(frac * width);
      bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}% `;
    }
    const line = `${this.label} ${bar}${done.toLocaleString('en')}${this.unit} ${secs.toFixed(1)}s ${extra}`;
    process.stderr.write(this.tty ? `\r${line}\u001b[K` : `${line}\n`);
  }
}
