import { useEffect, useState } from 'preact/hooks';
import { getBlob } from './api.js';
import { t } from './i18n.js';

/** A stored report photo, fetched with the token (an <img src> could not send it). */
export function ReportPhoto(props: { incidentId: string; photoId: string }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let made: string | null = null;
    getBlob(`/api/incidents/${props.incidentId}/report-photos/${props.photoId}`)
      .then((b) => setUrl((made = URL.createObjectURL(b))))
      .catch(() => {});
    return () => void (made && URL.revokeObjectURL(made));
  }, [props.incidentId, props.photoId]);
  return url ? <img class="report-photo" src={url} alt={t('现场照片', 'Photo from the scene')} data-testid="report-photo" /> : <span class="muted small">{t('照片', 'Photo')}</span>;
}

