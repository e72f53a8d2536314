/**
 * A Redis server of the test's own (never the machine's shared one): started on a port of its own
 * without persistence, so killing it loses everything in it, as a real restart of an unpersisted
 * Redis does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** Whether a `redis-server` binary is on PATH. */
export const redisServerAvailable = (): boolean => spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

export class OwnRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it accepts connections; fails if the port is taken. */
  async start(timeoutMs = 20_000): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on ${this.port} did not start:\n${out}`)), timeoutMs);
      const onData = (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void this.exited!.then((code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited (${String(code)}):\n${out}`));
      });
    });
  }

  /** SIGKILL: no shutdown, no save; everything it held is gone. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
