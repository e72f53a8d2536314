import { Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../auth/middleware.js';
import { parseInput } from '../http/validate.js';
import { settleEach } from '../http/batch.js';
import { authorize } from '../auth/policy.js';
import type { AllocationService } from './allocations.js';
import type { IncidentService } from '../incidents/incidents.js';
import { quantitySchema } from './quantities.js';
import { userText } from '../../shared/text.js';

const allocateBody = z
  .object({ stockLineId: z.string().min(1).max(64), quantity: quantitySchema, note: userText({ max: 1000, multiline: true, allowEmpty: true }).optional() })
  .strict();
/** The proposal's materials in one confirmation: each stock line on its own. */
const batchAllocateBody = z
  .object({
    allocations: z
      .array(allocateBody)
      .min(1)
      .max(100)
      .refine((list) => new Set(list.map((a) => a.stockLineId)).size === list.length, 'a stock line may appear only once'),
  })
  .strict();
const returnBody = z.object({ quantity: quantitySchema.optional() }).strict();
const cancelBody = z.object({ reason: userText({ max: 1000, multiline: true, allowEmpty: true }).optional() }).strict();
const emptyBody = z.object({}).strict();

/** Material allocations (物资调拨): reserve, issue (出库), deliver, return (入库), cancel. */
export function allocationRoutes(incidents: IncidentService, allocations: AllocationService): Router {
  const router = Router();
  router.post('/api/incidents/:id/allocations', async (req, res) => {
    const body = parseInput(allocateBody, req.body);
    res.status(201).json({ allocation: await allocations.allocate(actorOf(req), req.params.id, body) });
  });
  router.post('/api/incidents/:id/allocations/batch', async (req, res) => {
    const { allocations: list } = parseInput(batchAllocateBody, req.body);
    const actor = actorOf(req);
    const incident = await incidents.get(actor, req.params.id);
    authorize(actor, 'allocation.create', { incident });
    // Concurrent on purpose: the AllocationBatcher grants them in one transaction.
    const results = await settleEach(list, 'allocation', (a) => allocations.allocate(actor, req.params.id, a), { concurrent: true });
    res.json({ results: results.map((r) => ({ stockLineId: list[r.index]!.stockLineId, ...r })) });
  });
  router.get('/api/incidents/:id/allocations', async (req, res) => {
    res.json({ allocations: await allocations.listForIncident(actorOf(req), req.params.id) });
  });
  router.get('/api/allocations/:id', async (req, res) => {
    res.json({ allocation: await allocations.get(actorOf(req), req.params.id) });
  });
  router.post('/api/allocations/:id/issue', async (req, res) => {
    parseInput(emptyBody, req.body);
    res.json({ allocation: await allocations.issue(actorOf(req), req.params.id) });
  });
  router.post('/api/allocations/:id/deliver', async (req, res) => {
    parseInput(emptyBody, req.body);
    res.json({ allocation: await allocations.deliver(actorOf(req), req.params.id) });
  });
  router.post('/api/allocations/:id/return', async (req, res) => {
    const { quantity } = parseInput(returnBody, req.body);
    res.json({ allocation: await allocations.return(actorOf(req), req.params.id, quantity) });
  });
  router.post('/api/allocations/:id/cancel', async (req, res) => {
    const { reason } = parseInput(cancelBody, req.body);
    res.json({ allocation: await allocations.cancel(actorOf(req), req.params.id, reason) });
  });
  return router;
}
