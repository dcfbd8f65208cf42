import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** nsjail's own configs: test data read in place, never copied into the repo. */
export const NSJAIL_CONFIGS = fileURLToPath(new URL('../../../../shared/compat/nsjail-configs/', import.meta.url));
export const haveNsjailConfigs = existsSync(NSJAIL_CONFIGS);

export function nsjailConfigFiles(): string[] {
  if (!haveNsjailConfigs) return [];
  return ['configs', 'tests'].flatMap((dir) =>
    readdirSync(`${NSJAIL_CONFIGS}${dir}`)
      .filter((f) => f.endsWith('.cfg') || f.endsWith('.json'))
      .sort()
      .map((f) => `${dir}/${f}`),
  );
}
