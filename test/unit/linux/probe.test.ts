/** tsjail doctor's probes on this host: calls made with arguments the kernel refuses before acting. */
import { describe, expect, it } from 'vitest';
import { PROBES, probeIa32, probeSeccompNotify } from '../../../src/linux/probe.js';

describe('kernel probes', () => {
  it('find the calls tsjail needs (this host runs tsjail, so it has them)', () => {
    for (const [name, probe] of Object.entries(PROBES)) expect(probe(), name).toEqual({ present: true });
  });

  it('seccomp(SECCOMP_GET_NOTIF_SIZES) answers when the kernel lists user_notif', async () => {
    const { readFileSync } = await import('node:fs');
    const actions = readFileSync('/proc/sys/kernel/seccomp/actions_avail', 'utf8');
    expect(probeSeccompNotify().present).toBe(actions.split(/\s+/).includes('user_notif'));
  });

  it('ia32: a tiny program decides, and the 64-bit control always runs', () => {
    expect(typeof probeIa32()).toBe('boolean');
  });
});
