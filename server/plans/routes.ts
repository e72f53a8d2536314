import { Router } from 'express';
import { z } from 'zod';
import { RESPONSE_LEVELS } from '../../shared/labels.js';
import { effectiveChecklist } from '../../shared/plan.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { requirePermission } from '../auth/policy.js';
import type { PlanLibrary } from './library.js';

export function planRoutes(plans: PlanLibrary): Router {
  const router = Router();
  const read = requirePermission('plan.read');
  router.get('/api/plans', read, (_req, res) => {
    res.json({ plans: plans.list() });
  });
  router.get('/api/plans/:id', read, (req, res) => {
    const plan = plans.get(req.params.id);
    if (!plan) throw new AppError('not_found', `plan ${req.params.id} not found`, { planId: req.params.id });
    res.json({ plan });
  });
  router.get('/api/plans/:id/levels/:level/checklist', read, (req, res) => {
    const { id, level } = parseInput(z.object({ id: z.string(), level: z.enum(RESPONSE_LEVELS) }), req.params, 'params');
    const plan = plans.get(id);
    if (!plan) throw new AppError('not_found', `plan ${id} not found`, { planId: id });
    if (!plan.levels[level]) throw new AppError('level_not_in_plan', `plan ${id} has no level ${level}`, { level });
    res.json({ planId: id, level, items: effectiveChecklist(plan, level) });
  });
  return router;
}
