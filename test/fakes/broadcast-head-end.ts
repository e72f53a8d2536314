import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateCap } from './cap-schema.js';
import { validateGbt } from './gbt-schema.js';

export interface HeadEndMessage {
  idempotencyKey: string;
  deliveryId: string;
  xml: string;
}

/**
 * An emergency-broadcast head-end (应急广播 / display screen controller): accepts CAP XML by
 * POST, checks the HMAC-SHA256 signature and the CAP schema, and dedupes on Idempotency-Key.
 */
export class FakeHeadEnd {
  readonly accepted: HeadEndMessage[] = [];
  readonly duplicates: string[] = [];
  readonly rejected: { status: number; reason: string }[] = [];
  /** Next N requests answer 503 (to exercise retries). */
  failNext = 0;
  private server?: http.Server;
  url = '';

  /** `gbt35965`: a head-end of the national platform, which accepts only GB/T 35965.1-2018 messages. */
  constructor(
    readonly secret: string,
    readonly format: 'cap' | 'gbt35965' = 'cap',
  ) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/cap`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  private reject(res: http.ServerResponse, status: number, reason: string) {
    this.rejected.push({ status, reason });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(reason);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST') return this.reject(res, 405, 'POST only');
    const expected = Buffer.from(`sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-yingji-signature'] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.reject(res, 401, 'bad signature');
    const key = String(req.headers['idempotency-key'] ?? '');
    if (!key) return this.reject(res, 400, 'Idempotency-Key required');
    if (this.failNext > 0) {
      this.failNext--;
      return this.reject(res, 503, 'busy');
    }
    if (this.accepted.some((m) => m.idempotencyKey === key)) {
      this.duplicates.push(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'duplicate', key }));
      return;
    }
    const xml = body.toString('utf8');
    const check = this.format === 'gbt35965' ? await validateGbt(xml) : await validateCap(xml);
    if (!check.valid) return this.reject(res, 422, `${this.format === 'gbt35965' ? 'GB/T 35965.1' : 'CAP'} invalid: ${check.errors.join('; ')}`);
    this.accepted.push({ idempotencyKey: key, deliveryId: String(req.headers['x-yingji-delivery-id'] ?? ''), xml });
    res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'accepted', key }));
  }
}
