/**
 * The loopback push service of `bench:warn`, in a process of its own, so that the push part's
 * CPU figure counts the sender alone: a real push service's TLS termination, VAPID check and
 * decryption run on someone else's machine. Driven over the fork IPC channel.
 */
import { FakePushService } from '../test/fakes/push-service.js';

export type PushServiceRequest =
  | { id: number; op: 'subscribe'; count: number }
  | { id: number; op: 'expectVapid'; publicKey: string }
  | { id: number; op: 'stats' };

export interface PushServiceStats {
  received: number;
  rejected: number;
  cpuMs: number;
}

const service = await new FakePushService().start();
process.send!({ ready: true, url: service.url, cert: service.cert, allowlistEntry: service.allowlistEntry });

process.on('message', (m: PushServiceRequest) => {
  switch (m.op) {
    case 'subscribe':
      process.send!({ id: m.id, result: Array.from({ length: m.count }, () => service.subscribe()) });
      break;
    case 'expectVapid':
      service.vapidPublicKey = m.publicKey;
      process.send!({ id: m.id, result: null });
      break;
    case 'stats': {
      const cpu = process.cpuUsage();
      const stats: PushServiceStats = { received: service.received.length, rejected: service.rejected.length, cpuMs: (cpu.user + cpu.system) / 1000 };
      process.send!({ id: m.id, result: stats });
      break;
    }
  }
});
process.on('disconnect', () => void service.stop().then(() => process.exit(0)));
