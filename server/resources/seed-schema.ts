import { z } from 'zod';
import { bilingualSchema, latLonSchema } from '../../shared/plan.js';
import { MATERIAL_CATEGORY_CODES, MATERIAL_ITEM_CODES, SPECIALTY_CODES, TEAM_KIND_CODES } from '../../shared/catalogue.js';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids are letters, digits, - and _');
const lat = z.number().min(-90).max(90);
const lon = z.number().min(-180).max(180);
const contact = z.object({ name: z.string().min(1), phone: z.string().regex(/^\+?[0-9-]{5,20}$/) }).strict();
/** A person reached by SMS (叫应 escalation): a mobile number in E.164. */
const mobileContact = z.object({ name: z.string().min(1), phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 mobile number like +8613800000000') }).strict();

export const teamSeedSchema = z
  .object({
    id,
    name: bilingualSchema,
    tier: z.enum(['district', 'street', 'social']).describe('区级 / 街道 / 社会'),
    kind: z.enum(TEAM_KIND_CODES),
    specialties: z.array(z.enum(SPECIALTY_CODES)).min(1),
    headcount: z.number().int().positive(),
    /** The plans' responsible units (command.units ids, e.g. drainage, fire) this team works for: the phone's "my items". */
    planUnits: z.array(id).max(20).optional(),
    base: z.object({ lat, lon, address: z.string().min(1) }).strict(),
    contact,
    /** 队长 / 副队长: alerted in turn when the team leaves a dispatch order unacknowledged. */
    leader: mobileContact.optional(),
    deputy: mobileContact.optional(),
  })
  .strict();

export const stockSeedSchema = z
  .object({
    item: z.enum(MATERIAL_ITEM_CODES),
    quantity: z.number().min(0),
    minQuantity: z.number().min(0).optional(),
    batch: z.string().min(1),
    expiresOn: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  })
  .strict();

export const warehouseSeedSchema = z
  .object({
    id,
    name: bilingualSchema,
    tier: z.enum(['district', 'street', 'community']),
    areaM2: z.number().positive().optional(),
    location: z.object({ lat, lon, address: z.string().min(1) }).strict(),
    contact,
    stock: z.array(stockSeedSchema),
  })
  .strict();

export const shelterSeedSchema = z
  .object({
    id,
    name: bilingualSchema,
    kind: z.enum(['park', 'square', 'school', 'stadium', 'green-space', 'indoor']),
    capacity: z.number().int().positive(),
    location: z.object({ lat, lon, address: z.string().min(1) }).strict(),
  })
  .strict();

export const reservePartnerSeedSchema = z
  .object({
    id,
    name: bilingualSchema,
    kind: z.enum(['supermarket', 'logistics', 'manufacturer']),
    location: z.object({ lat, lon, address: z.string().min(1) }).strict(),
    contact,
    leadTimeMinutes: z.number().int().positive(),
    capacity: z
      .array(
        z
          .object({
            item: z.enum(MATERIAL_ITEM_CODES).optional(),
            category: z.enum(MATERIAL_CATEGORY_CODES).optional(),
            description: bilingualSchema,
            quantity: z.number().positive().optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export const organisationSeedSchema = z
  .object({
    district: z
      .object({
        code: z.string().regex(/^\d{6}$/, 'GB/T 2260 six-digit area code'),
        name: bilingualSchema,
        timezone: z.string().min(1),
        centre: latLonSchema,
        boundary: z.array(latLonSchema).min(4),
      })
      .strict(),
    commandCentre: z
      .object({ name: bilingualSchema, location: z.object({ lat, lon, address: z.string().min(1) }).strict(), dutyPhone: z.string() })
      .strict(),
    teams: z.array(teamSeedSchema),
    warehouses: z.array(warehouseSeedSchema),
    shelters: z.array(shelterSeedSchema),
    reservePartners: z.array(reservePartnerSeedSchema),
  })
  .strict();

export type OrganisationSeed = z.infer<typeof organisationSeedSchema>;
