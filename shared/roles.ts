export const ROLES = ['commander', 'staff', 'field', 'controller', 'observer', 'evaluator'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Record<Role, { zh: string; en: string }> = {
  commander: { zh: '指挥长', en: 'Commander' },
  staff: { zh: '指挥部工作人员', en: 'Command staff' },
  field: { zh: '现场队员', en: 'Field responder' },
  controller: { zh: '演练导调', en: 'Exercise controller' },
  observer: { zh: '观察员', en: 'Observer (read-only)' },
  evaluator: { zh: '演练评估员', en: 'Exercise evaluator' },
};

export interface UserView {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  teamId: string | null;
  createdAt: string;
  /** A disabled account cannot log in; its sessions ended when it was disabled. */
  disabled: boolean;
}
