import { createECDH, createPublicKey, randomBytes, type ECDH } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import ece from 'http_ece';
import { jwtVerify, importJWK } from 'jose';
import selfsigned from 'selfsigned';

interface Subscriber {
  id: string;
  ecdh: ECDH;
  auth: Buffer;
  /** Scripted answers, consumed in order; then 201. */
  answers: number[];
}

export interface ReceivedPush {
  subscriptionId: string;
  payload: any;
  ttl: number;
  urgency: string | undefined;
  /** The VAPID JWT the push carried. */
  vapidJwt: string;
}

const b64u = (b: Buffer) => b.toString('base64url');

/**
 * A loopback push service speaking RFC 8030 over HTTPS (self-signed): it checks the VAPID JWT
 * (RFC 8292) against the key in the Authorization header, decrypts the aes128gcm body
 * (RFC 8291) with the subscriber's private key, and answers 201, 429 or 410 as scripted.
 * Like a browser's service worker showing notifications by tag, `shown` keeps one per tag.
 */
export class FakePushService {
  readonly received: ReceivedPush[] = [];
  readonly rejected: { status: number; reason: string }[] = [];
  readonly shown = new Map<string, ReceivedPush>();
  private readonly subscribers = new Map<string, Subscriber>();
  private server?: https.Server;
  url = '';
  cert = '';
  /** Expected VAPID public key (base64url), once known. */
  vapidPublicKey?: string;

  async start(): Promise<this> {
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec' } as never);
    this.cert = pems.cert;
    this.server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `https://localhost:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The PUSH_ENDPOINT_ALLOWLIST entry that lets the server reach this loopback fake (host:port). */
  get allowlistEntry(): string {
    return new URL(this.url).host;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** A new browser subscription: what PushManager.subscribe() would hand the web client. */
  subscribe(answers: number[] = []): { id: string; endpoint: string; keys: { p256dh: string; auth: string } } {
    const id = randomBytes(8).toString('hex');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.subscribers.set(id, { id, ecdh, auth, answers: [...answers] });
    return { id, endpoint: `${this.url}/push/${id}`, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) } };
  }

  script(id: string, answers: number[]): void {
    this.subscribers.get(id)!.answers.push(...answers);
  }

  private reject(res: import('node:http').ServerResponse, status: number, reason: string) {
    this.rejected.push({ status, reason });
    res.writeHead(status).end(reason);
  }

  private async handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const id = /^\/push\/([0-9a-f]+)$/.exec(req.url ?? '')?.[1];
    const sub = id ? this.subscribers.get(id) : undefined;
    if (req.method !== 'POST' || !sub) return this.reject(res, 404, 'no such subscription');
    // VAPID: Authorization: vapid t=<JWT>, k=<base64url P-256 public key>
    const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
    if (!auth) return this.reject(res, 401, 'missing vapid authorization');
    const [, jwt, k] = auth;
    if (this.vapidPublicKey && k !== this.vapidPublicKey) return this.reject(res, 403, 'unexpected VAPID key');
    try {
      const raw = Buffer.from(k!, 'base64url');
      const jwk = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65)) }, format: 'jwk' }).export({ format: 'jwk' });
      const { payload } = await jwtVerify(jwt!, await importJWK(jwk, 'ES256'), { audience: new URL(this.url).origin });
      if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) throw new Error('sub must be mailto: or https:');
      if (!payload.exp || payload.exp > Date.now() / 1000 + 24 * 3600) throw new Error('exp over 24 h');
    } catch (err) {
      return this.reject(res, 403, `VAPID JWT invalid: ${(err as Error).message}`);
    }
    if (req.headers['content-encoding'] !== 'aes128gcm') return this.reject(res, 415, 'content-encoding must be aes128gcm');
    const ttl = Number(req.headers.ttl);
    if (!Number.isInteger(ttl) || ttl < 0) return this.reject(res, 400, 'TTL header required');
    let payload: unknown;
    try {
      const plain = ece.decrypt(Buffer.concat(chunks), { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: b64u(sub.auth) });
      payload = JSON.parse(plain.toString('utf8'));
    } catch (err) {
      return this.reject(res, 400, `cannot decrypt: ${(err as Error).message}`);
    }
    const answer = sub.answers.shift() ?? 201;
    if (answer !== 201) {
      res.writeHead(answer, answer === 429 ? { 'retry-after': '1' } : {}).end();
      return;
    }
    const push: ReceivedPush = { subscriptionId: sub.id, payload, ttl, urgency: req.headers.urgency as string | undefined, vapidJwt: jwt! };
    this.received.push(push);
    this.shown.set(`${sub.id}:${(payload as { tag?: string }).tag}`, push);
    res.writeHead(201, { location: `${this.url}/message/${randomBytes(6).toString('hex')}` }).end();
  }
}
