import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { startTestServer, type TestServer } from './helpers/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const activate = async (mode: 'actual' | 'exercise' = 'actual') => {
  const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'II', mode, location: { lat: 41.8, lon: 123.36 } });
  expect(res.status).toBe(201);
  return res.body.incident.id as string;
};
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const count = async (sql: string, params: unknown[] = []) => Number((await t.server.context.db.pool.query(sql, params)).rows[0].n);

const HOSTILE = '<img src=x onerror=alert(1)>';
/** A JPEG as a phone writes it: EXIF with GPS 41°47'30"N 123°20'0"E, a hostile description, XMP and an ICC profile. */
async function phoneJpeg(opts: { gps?: boolean } = {}): Promise<Buffer> {
  return sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a6f9a' } })
    .jpeg()
    .withExif({
      IFD0: { ImageDescription: HOSTILE, Make: 'SECRET-CAMERA', Artist: 'SECRET-ARTIST' },
      ...(opts.gps === false ? {} : { IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '41/1 47/1 3000/100', GPSLongitudeRef: 'E', GPSLongitude: '123/1 20/1 0/1' } }),
    })
    .withXmp(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>SECRET-XMP ${HOSTILE}</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>`)
    .withIccProfile('p3')
    .toBuffer();
}
async function fetchPhoto(api: { token?: string }, incidentId: string, photoId: string) {
  const res = await fetch(`${t.url}/api/incidents/${incidentId}/report-photos/${photoId}`, { headers: { authorization: `Bearer ${api.token}` } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("teams' last known position (最后位置)", () => {
  it('a status change with the phone fix moves the team; older fixes do not; HQ cannot set it; bad fixes are refused whole', async () => {
    const id = await activate();
    const dispatch = await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId: 'T-D07', task: '排水' });
    expect(dispatch.status).toBe(201);
    const dId = dispatch.body.dispatch.id as string;
    expect((await t.admin.get('/api/teams/T-D07')).body.team.lastFix).toBeNull();
    const field = await t.user('field', { teamId: 'T-D07' });

    const fix = { lat: 41.7961, lon: 123.3655, accuracyM: 18, at: minutesAgo(1) };
    const ack = await field.post(`/api/dispatches/${dId}/status`, { status: 'acknowledged', position: fix });
    expect(ack.status).toBe(200);
    const team = (await t.admin.get('/api/teams/T-D07')).body.team;
    expect(team.lastFix).toMatchObject({ lat: 41.7961, lon: 123.3655, accuracyM: 18, at: new Date(fix.at).toISOString() });
    expect(Date.parse(team.lastFix.receivedAt)).toBeGreaterThanOrEqual(Date.parse(fix.at));
    const events = (await t.admin.get(`/api/incidents/${id}/events?type=dispatch.status_changed`)).body.events;
    expect(events.at(-1).data.position).toMatchObject({ lat: 41.7961, lon: 123.3655, latest: true });

    // An older fix replayed from the offline queue changes the status but not the position.
    const old = await field.post(`/api/dispatches/${dId}/status`, { status: 'en_route', position: { lat: 41.7, lon: 123.2, accuracyM: 5, at: minutesAgo(30) } });
    expect(old.status).toBe(200);
    expect((await t.admin.get('/api/teams/T-D07')).body.team.lastFix).toMatchObject({ lat: 41.7961, lon: 123.3655 });
    expect((await t.admin.get(`/api/incidents/${id}/events?type=dispatch.status_changed`)).body.events.at(-1).data.position.latest).toBe(false);

    // A commander's own position is not the team's.
    const hq = await t.admin.post(`/api/dispatches/${dId}/status`, { status: 'on_scene', position: { lat: 41.8, lon: 123.3, accuracyM: 5, at: minutesAgo(0) } });
    expect(hq.status).toBe(403);
    expect(hq.body.error.code).toBe('forbidden');

    const before = await count('SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [id]);
    const bad: [unknown, string][] = [
      [{ lat: 91, lon: 123, accuracyM: 5, at: minutesAgo(0) }, 'position.lat'],
      [{ lat: 41, lon: -181, accuracyM: 5, at: minutesAgo(0) }, 'position.lon'],
      [{ lat: 41, lon: 123, accuracyM: -1, at: minutesAgo(0) }, 'position.accuracyM'],
      [{ lat: 41, lon: 123, accuracyM: 5, at: new Date(Date.now() + 3_600_000).toISOString() }, 'position.at'],
      [{ lat: 41, lon: 123, accuracyM: 5, at: 'yesterday' }, 'position.at'],
      [{ lat: 41, lon: 123, accuracyM: 5 }, 'position.at'],
      [{ lat: 41, lon: 123, accuracyM: 5, at: minutesAgo(0), name: HOSTILE }, 'position'],
    ];
    for (const [position, path] of bad) {
      const res = await field.post(`/api/dispatches/${dId}/status`, { status: 'on_scene', position });
      expect(res.status, JSON.stringify(position)).toBe(400);
      expect(res.body.error.details.issues.map((i: { path: string }) => i.path).join(',')).toContain(path);
    }
    expect(await count('SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [id])).toBe(before);
    const still = (await t.admin.get('/api/teams/T-D07')).body.team;
    expect(still.status).toBe('en_route');
    expect(still.lastFix).toMatchObject({ lat: 41.7961 });

    // A situation report with the phone's fix moves the team too.
    const report = await field.post(`/api/incidents/${id}/reports`, { text: '已到达建设大路下穿桥', location: { lat: 41.7975, lon: 123.366, accuracyM: 9, at: minutesAgo(0) } });
    expect(report.status).toBe(201);
    expect(report.body.report.location).toMatchObject({ lat: 41.7975, source: 'device' });
    expect((await t.admin.get('/api/teams')).body.teams.find((x: { id: string }) => x.id === 'T-D07').lastFix).toMatchObject({ lat: 41.7975, lon: 123.366, accuracyM: 9 });
    const future = await field.post(`/api/incidents/${id}/reports`, { text: 'x', location: { lat: 41.7, lon: 123.3, at: new Date(Date.now() + 3_600_000).toISOString() } });
    expect(future.status).toBe(400);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
  });

  it('teams carry the plan units they work for, from the organisation data', async () => {
    const teams = (await t.admin.get('/api/teams')).body.teams as { id: string; planUnits: string[] }[];
    expect(teams.find((x) => x.id === 'T-D07')!.planUnits).toEqual(['drainage', 'water']);
    expect(teams.find((x) => x.id === 'T-D01')!.planUnits).toContain('fire');
    expect(teams.every((x) => x.planUnits.length > 0)).toBe(true);
    // Every unit named in the organisation file is a responsible unit of some plan.
    const plans = (await t.admin.get('/api/plans')).body.plans as { id: string }[];
    const known = new Set<string>();
    for (const p of plans) for (const u of (await t.admin.get(`/api/plans/${p.id}`)).body.plan.command.units as { id: string }[]) known.add(u.id);
    expect(known.size).toBeGreaterThan(10);
    expect(teams.flatMap((x) => x.planUnits.filter((u) => !known.has(u)).map((u) => `${x.id}:${u}`))).toEqual([]);
  });
});

describe('photos on situation reports', () => {
  it('keeps the EXIF location when the report has none, strips every other metadata block, serves the sniffed type with nosniff', async () => {
    const id = await activate();
    const field = await t.user('field', { teamId: 'T-D06' });
    const original = await phoneJpeg();
    expect(original.includes('SECRET-XMP')).toBe(true);
    const res = await field.post(`/api/incidents/${id}/reports`, { text: `积水照片 ${HOSTILE}`, photo: original.toString('base64') });
    expect(res.status).toBe(201);
    const report = res.body.report;
    expect(report.text).toBe(`积水照片 ${HOSTILE}`);
    expect(report.location).toEqual({ lat: 41.791667, lon: 123.333333, source: 'exif' });
    expect(report.photo).toMatchObject({ contentType: 'image/jpeg', width: 320, height: 240 });
    // The EXIF position may be old: it is the report's location, not the team's last fix.
    expect((await t.admin.get('/api/teams/T-D06')).body.team.lastFix).toBeNull();

    const served = await fetchPhoto(t.admin, id, report.photo.id);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/jpeg');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(served.bytes.length).toBe(report.photo.byteSize);
    for (const secret of ['SECRET-CAMERA', 'SECRET-ARTIST', 'SECRET-XMP', 'onerror', 'Display P3']) expect(served.bytes.includes(secret), secret).toBe(false);
    const meta = await sharp(served.bytes).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    const stored = (await t.server.context.db.pool.query('SELECT bytes FROM report_photos WHERE id = $1', [report.photo.id])).rows[0].bytes as Buffer;
    expect(stored.includes('SECRET-XMP')).toBe(false);

    // A report with the phone's own location keeps it; a photo without GPS adds none.
    const withFix = await field.post(`/api/incidents/${id}/reports`, { text: '带位置', location: { lat: 41.8, lon: 123.37, accuracyM: 5, at: minutesAgo(0) }, photo: original.toString('base64') });
    expect(withFix.body.report.location).toMatchObject({ lat: 41.8, lon: 123.37, source: 'device' });
    const noGps = await field.post(`/api/incidents/${id}/reports`, { text: '无位置', photo: (await phoneJpeg({ gps: false })).toString('base64') });
    expect(noGps.body.report.location).toBeNull();

    // PNG and WebP keep their own type; the type comes from the bytes.
    for (const [format, type] of [['png', 'image/png'], ['webp', 'image/webp']] as const) {
      const img = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c33' } })[format]().withExif({ IFD0: { Artist: 'SECRET-ARTIST' } }).toBuffer();
      const r = await field.post(`/api/incidents/${id}/reports`, { text: format, photo: img.toString('base64') });
      expect(r.status, format).toBe(201);
      expect(r.body.report.photo.contentType).toBe(type);
      const p = await fetchPhoto(field, id, r.body.report.photo.id);
      expect(p.headers.get('content-type')).toBe(type);
      expect(p.bytes.includes('SECRET-ARTIST')).toBe(false);
    }

    // The team's own history, newest last in the API (the phone shows it newest first).
    const mine = await field.get(`/api/incidents/${id}/reports?teamId=T-D06`);
    expect(mine.body.reports.map((r: { text: string }) => r.text)).toEqual([`积水照片 ${HOSTILE}`, '带位置', '无位置', 'png', 'webp']);
    expect((await field.get(`/api/incidents/${id}/reports?teamId=T-D01`)).body.reports).toEqual([]);
    expect((await t.admin.get(`/api/incidents/${id}/events/verify`)).body.ok).toBe(true);
  });

  it('refuses what is not a JPEG, PNG or WebP photo, or too big, and writes nothing', async () => {
    const id = await activate();
    const field = await t.user('field', { teamId: 'T-D08' });
    const before = async () => [await count('SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [id]), await count('SELECT count(*) AS n FROM report_photos WHERE incident_id = $1', [id])];
    const start = await before();
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).gif().toBuffer();
    const jpeg = await phoneJpeg();
    const cases: [string, Buffer | string, number, string][] = [
      ['html', Buffer.from(`<html><script>alert(1)</script></html>`), 422, 'invalid_photo'],
      ['svg', Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), 422, 'invalid_photo'],
      ['gif', gif, 422, 'invalid_photo'],
      ['jpeg magic, garbage after', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 0x41)]), 422, 'invalid_photo'],
      ['png magic, jpeg body', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), jpeg]), 422, 'invalid_photo'],
      ['truncated jpeg', jpeg.subarray(0, Math.floor(jpeg.length / 2)), 422, 'invalid_photo'],
      ['not base64', '@@@ not base64 @@@', 400, 'validation_failed'],
      ['over 5 MiB', Buffer.alloc(5 * 1024 * 1024 + 3, 0xff), 400, 'validation_failed'],
    ];
    for (const [name, photo, status, code] of cases) {
      const res = await field.post(`/api/incidents/${id}/reports`, { text: name, photo: typeof photo === 'string' ? photo : photo.toString('base64') });
      expect(res.status, name).toBe(status);
      expect(res.body.error.code, name).toBe(code);
    }
    const huge = await field.post(`/api/incidents/${id}/reports`, { text: 'huge', photo: 'A'.repeat(9 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    // Other routes keep the 1 MiB limit.
    const big = await t.admin.post(`/api/incidents/${id}/level`, { level: 'I', reason: 'x'.repeat(1_100_000) });
    expect(big.status).toBe(413);
    expect(await before()).toEqual(start);
  });

  it('photos are served only to those who may see the incident', async () => {
    const id = await activate();
    const field = await t.user('field', { teamId: 'T-D09' });
    const res = await field.post(`/api/incidents/${id}/reports`, { text: '堤防照片', photo: (await phoneJpeg()).toString('base64') });
    const photoId = res.body.report.photo.id as string;
    const observer = await t.user('observer');
    expect((await fetchPhoto(observer, id, photoId)).status).toBe(200);
    const controller = await t.user('controller'); // exercise incidents only
    const hidden = await fetchPhoto(controller, id, photoId);
    expect(hidden.status).toBe(404);
    expect(JSON.parse(hidden.bytes.toString()).error.code).toBe('not_found');
    expect((await fetchPhoto({}, id, photoId)).status).toBe(401);
    const other = await activate();
    expect((await fetchPhoto(t.admin, other, photoId)).status).toBe(404);
    expect((await fetchPhoto(t.admin, id, 'not-a-uuid')).status).toBe(404);
  });
});
